// The socket's QUERY object: the README's example, its defaults left to
// the server, and the messages for what is wrong.
import Testing
import TCPeekWire

@Suite("QUERY request")
struct QueryRequestTests {
    @Test("the README's example, a single name, nulls and nothing")
    func reads() throws {
        #expect(try QueryRequest.read(#"{"since":"1h","until":"now","filter":["RX","web"],"by":"minute"}"#)
            == QueryRequest(since: "1h", until: "now", filter: ["RX", "web"], by: .minute))
        #expect(try QueryRequest.read(#"{"filter":"web"}"#) == QueryRequest(filter: ["web"]))
        #expect(try QueryRequest.read(#"{"since":null,"until":null,"filter":[],"by":null}"#) == QueryRequest())
        #expect(try QueryRequest.read("{}") == QueryRequest())
    }

    @Test("what tcpeekstat sends reads back the same")
    func roundTrip() throws {
        let request = QueryRequest(since: "2026-11-27T10:00:00Z", until: "30m")
        let text = WireJSON.text(request)
        #expect(text == #"{"since":"2026-11-27T10:00:00Z","until":"30m"}"#)
        #expect(try QueryRequest.read(text) == request)
        let full = QueryRequest(since: "all", until: nil, filter: ["a", "b"], by: .day)
        #expect(try QueryRequest.read(WireJSON.text(full)) == full)
    }

    @Test("bad objects are refused with a message naming the problem", arguments: [
        ("{", "QUERY: not valid JSON: '{'"),
        ("[1,2]", "QUERY: expected a JSON object, got '[1,2]'"),
        ("\"1h\"", "QUERY: expected a JSON object"),
        (#"{"sinse":"1h","zz":1}"#, "QUERY: unknown field 'sinse'; the fields are since, until, filter and by"),
        (#"{"since":3600}"#, "QUERY: 'since' must be a string"),
        (#"{"until":["1h"]}"#, "QUERY: 'until' must be a string"),
        (#"{"filter":[1]}"#, "QUERY: 'filter' must be a name or a list of names"),
        (#"{"filter":{}}"#, "QUERY: 'filter' must be a name or a list of names"),
        (#"{"by":1}"#, "QUERY: 'by' must be minute, hour, day or total"),
        (#"{"by":"week"}"#, "QUERY: 'by' must be minute, hour, day or total, not 'week'"),
    ])
    func refuses(text: String, message: String) {
        #expect {
            try QueryRequest.read(text)
        } throws: { error in
            (error as? QueryRequest.Problem)?.description.hasPrefix(message) == true
        }
    }
}
