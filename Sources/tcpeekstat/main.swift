// tcpeekstat queries a running tcpeek over its UNIX socket. The socket server
// is a separate issue; until it lands this says so instead of failing oddly.
import Foundation

let message = """
tcpeekstat: the socket client is not available in this build yet.
Use `tcpeek record ... --json-summary` for machine-readable totals meanwhile.
"""
FileHandle.standardError.write(Data((message + "\n").utf8))
exit(1)
