#!/usr/bin/env python3
"""Make a long caller audio pcap from sip-tester's 7 s g711a.pcap: the copies follow
each other with continuing pcap times, RTP sequence numbers and RTP timestamps, so a
SIPp caller sends audio for the whole call, as a real phone does (a recording's length
follows the caller's RTP).

    long_pcap.py IN OUT COPIES
"""

import struct
import sys


def main(src: str, dst: str, copies: int) -> None:
    data = open(src, "rb").read()
    header, body = data[:24], data[24:]
    magic, _, _, _, _, _, linktype = struct.unpack("<IHHiIII", header)
    if magic != 0xA1B2C3D4:
        raise SystemExit(f"{src}: not a little-endian microsecond pcap")
    link = {1: 14, 113: 16}.get(linktype)
    if link is None:
        raise SystemExit(f"{src}: link type {linktype} not handled")
    packets = []
    off = 0
    while off < len(body):
        sec, usec, incl, orig = struct.unpack("<IIII", body[off:off + 16])
        packets.append((sec + usec / 1e6, bytearray(body[off + 16:off + 16 + incl]), orig))
        off += 16 + incl
    first, last = packets[0][0], packets[-1][0]
    period = last - first + 0.02
    out = [header]
    for n in range(copies):
        for t, frame, orig in packets:
            frame = bytearray(frame)
            ihl = (frame[link] & 0x0F) * 4
            rtp = link + ihl + 8
            seq, ts = struct.unpack("!HI", frame[rtp + 2:rtp + 8])
            frame[rtp + 2:rtp + 8] = struct.pack("!HI", (seq + n * len(packets)) & 0xFFFF,
                                                 (ts + n * int(period * 8000)) & 0xFFFFFFFF)
            when = t + n * period
            out.append(struct.pack("<IIII", int(when), int((when % 1) * 1e6), len(frame), orig))
            out.append(bytes(frame))
    open(dst, "wb").write(b"".join(out))


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], int(sys.argv[3]))
