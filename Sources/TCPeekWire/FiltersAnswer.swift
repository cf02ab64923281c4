import TCPeekCore

/// The socket's `FILTERS` answer: the counting filters and the exclusions,
/// `{"filters":[{"name":...,"direction":...,"rules":[...],"expression":...}],"exclusions":[...]}`.
public struct FiltersAnswer: Codable, Sendable, Equatable {
    public var filters: [FilterDescription]
    public var exclusions: [FilterDescription]

    public init(filters: [Filter], exclusions: [Filter]) {
        self.filters = filters.map(FilterDescription.init)
        self.exclusions = exclusions.map(FilterDescription.init)
    }
}

/// One filter as `FILTERS` shows it.
public struct FilterDescription: Codable, Sendable, Equatable {
    public var name: String
    /// `RX`, `TX` or `ANY`.
    public var direction: String
    public var rules: [String]
    /// The filter as given on the command line.
    public var expression: String

    public init(_ filter: Filter) {
        name = filter.name
        direction = filter.direction.rawValue
        rules = filter.rules.map(\.description)
        expression = filter.expression
    }
}
