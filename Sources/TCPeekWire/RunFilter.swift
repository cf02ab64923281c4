import TCPeekCore

/// A counting filter as the `runs` row keeps it (`runs.filters`, a JSON
/// list of these): `{"name":"web","expression":"web:RX@*:80"}`.
public struct RunFilter: Codable, Sendable, Equatable {
    public var name: String
    public var expression: String

    public init(name: String, expression: String) {
        self.name = name
        self.expression = expression
    }

    public init(_ filter: Filter) {
        self.init(name: filter.name, expression: filter.expression)
    }
}
