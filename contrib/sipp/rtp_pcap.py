#!/usr/bin/env python3
"""Make an RTP pcap for SIPp's play_pcap_audio from raw G.711 a-law audio (8 kHz):
160 bytes every 20 ms, payload type 8, on Ethernet/IPv4/UDP (SIPp sends only the RTP
part, to the call's media address). The sandbox renders the customers' voices with
espeak-ng and sox, then this makes them playable:

    rtp_pcap.py IN.alaw OUT.pcap
"""

import struct
import sys

FRAME = 160  # 20 ms at 8 kHz


def main(src: str, dst: str) -> None:
    audio = open(src, "rb").read()
    audio += b"\xd5" * (-len(audio) % FRAME)  # a-law silence to a whole frame
    out = [struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)]
    for n in range(len(audio) // FRAME):
        rtp = struct.pack("!BBHII", 0x80, 8, n & 0xFFFF, (n * FRAME) & 0xFFFFFFFF, 0x43544931) + \
            audio[n * FRAME:(n + 1) * FRAME]
        udp = struct.pack("!HHHH", 6000, 6000, 8 + len(rtp), 0) + rtp
        ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), n & 0xFFFF, 0, 64, 17, 0,
                         bytes([127, 0, 0, 1]), bytes([127, 0, 0, 1])) + udp
        frame = b"\x00" * 12 + b"\x08\x00" + ip
        when = n * 0.02
        out.append(struct.pack("<IIII", int(when), int(round((when % 1) * 1e6)), len(frame), len(frame)) + frame)
    open(dst, "wb").write(b"".join(out))


if __name__ == "__main__":
    if len(sys.argv) != 3:
        raise SystemExit(__doc__)
    main(sys.argv[1], sys.argv[2])
