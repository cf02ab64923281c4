/// The order of the fleet's filters, from the lists of filters that
/// counted a session (each in bit order): the order the local query gives
/// them (`HistoryQuery.filterNames`, by run then bit) wherever the lists
/// say it, else by the first run and time a filter counted a session, then name.
enum FilterOrder {
    /// One distinct `filters` list, with the first run and start it was seen at.
    struct List {
        var names: [String]
        var run: Int
        var started: Double
    }

    static func merged(_ lists: [List]) -> [String] {
        var firstSeen: [String: (run: Int, started: Double)] = [:]
        var after: [String: Set<String>] = [:]   // filter -> the filters a list puts right after it
        var before: [String: Int] = [:]          // filter -> how many distinct filters a list puts right before it
        for list in lists {
            for name in list.names {
                let seen = firstSeen[name]
                if seen == nil || (list.run, list.started) < (seen!.run, seen!.started) {
                    firstSeen[name] = (list.run, list.started)
                }
                before[name, default: 0] += 0
            }
            for (earlier, later) in zip(list.names, list.names.dropFirst()) where earlier != later {
                if after[earlier, default: []].insert(later).inserted { before[later, default: 0] += 1 }
            }
        }
        func precedes(_ a: String, _ b: String) -> Bool {
            let (x, y) = (firstSeen[a]!, firstSeen[b]!)
            return (x.run, x.started, a) < (y.run, y.started, b)
        }
        // Kahn's order, the earliest-seen ready filter first; a cycle (runs
        // whose filters came in different orders) is broken the same way.
        var order: [String] = []
        var remaining = Set(before.keys)
        while !remaining.isEmpty {
            let ready = remaining.filter { before[$0] == 0 }
            let next = (ready.isEmpty ? remaining : ready).min(by: precedes)!
            remaining.remove(next)
            before[next] = -1
            order.append(next)
            for later in after[next] ?? [] where remaining.contains(later) { before[later]! -= 1 }
        }
        return order
    }
}
