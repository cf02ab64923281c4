/// The socket's `HELP` answer: `{"requests":[{"request":...,"answer":...}]}`.
public struct HelpAnswer: Codable, Sendable, Equatable {
    public var requests: [Request]

    public init(requests: [Request]) { self.requests = requests }

    public struct Request: Codable, Sendable, Equatable {
        public var request: String
        public var answer: String

        public init(request: String, answer: String) {
            self.request = request
            self.answer = answer
        }
    }
}

/// The socket's answer to a request it cannot answer: `{"error":"..."}`.
public struct ErrorAnswer: Codable, Sendable, Equatable {
    public var error: String

    public init(error: String) { self.error = error }
}
