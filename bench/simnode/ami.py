"""A node's AMI: the banner, Login and Ping (all the engine asks of AMI), over TCP."""

from __future__ import annotations

import asyncio

READ_TIMEOUT_S = 60.0  # an idle client is pinged by the engine every 5 s
MAX_MESSAGE = 8192


async def serve(host: str, port: int, user: str, secret: str) -> asyncio.Server:
    async def client(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        writer.write(b"Asterisk Call Manager/9.0.0\r\n")
        authenticated = False
        try:
            while True:
                async with asyncio.timeout(READ_TIMEOUT_S):
                    raw = await reader.readuntil(b"\r\n\r\n")
                if len(raw) > MAX_MESSAGE:
                    break
                fields = dict(line.partition(": ")[::2] for line in raw.decode(errors="replace").split("\r\n") if line)
                action, action_id = fields.get("Action", "").lower(), fields.get("ActionID", "")
                head = f"ActionID: {action_id}\r\n" if action_id else ""
                if action == "login":
                    authenticated = fields.get("Username") == user and fields.get("Secret") == secret
                    if authenticated:
                        writer.write(f"Response: Success\r\n{head}Message: Authentication accepted\r\n\r\n".encode())
                        writer.write(b"Event: FullyBooted\r\nPrivilege: system,all\r\nStatus: Fully Booted\r\n\r\n")
                    else:
                        writer.write(f"Response: Error\r\n{head}Message: Authentication failed\r\n\r\n".encode())
                elif not authenticated:
                    writer.write(f"Response: Error\r\n{head}Message: Permission denied\r\n\r\n".encode())
                elif action == "ping":
                    writer.write(f"Response: Success\r\n{head}Ping: Pong\r\nTimestamp: 0.0\r\n\r\n".encode())
                elif action == "logoff":
                    writer.write(f"Response: Goodbye\r\n{head}Message: Thanks for all the fish.\r\n\r\n".encode())
                    break
                else:
                    writer.write(f"Response: Error\r\n{head}Message: Invalid/unknown command\r\n\r\n".encode())
                async with asyncio.timeout(READ_TIMEOUT_S):
                    await writer.drain()
        except (TimeoutError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(client, host, port, limit=MAX_MESSAGE)
