import Foundation
import TCPeekWire

/// tcpeek's answers, read back as the wire types tcpeek writes them with
/// (TCPeekWire), and told apart from some other peer's.
enum StatAnswer {
    /// Reads `text` as `Answer`; the server's `{"error":...}` becomes the error.
    static func decode<Answer: Decodable>(_ type: Answer.Type, _ text: String, path: String) throws(ClientError) -> Answer {
        if let refusal = try? WireJSON.decode(ErrorAnswer.self, from: text) {
            throw ClientError("tcpeek: \(refusal.error)")
        }
        if let answer = try? WireJSON.decode(type, from: text) {
            return answer
        }
        guard WireJSON.isJSON(text) else {
            let start = text.prefix(80).replacingOccurrences(of: "\n", with: "\\n")
            throw ClientError(text.isEmpty
                ? "the peer at '\(path)' closed the connection without an answer: is it tcpeek's socket?"
                : "the peer at '\(path)' does not answer like tcpeek ('\(start)'): is it tcpeek's socket?")
        }
        throw ClientError("the peer at '\(path)' does not answer like tcpeek (unexpected JSON): is it tcpeek's socket, and as new as this tcpeekstat?")
    }
}
