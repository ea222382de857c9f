/// The order in which `JSONWriter` writes an object's keys when it writes a whole `JSONValue`.
/// Dictionaries have no order of their own, so the writer imposes one: the same value always
/// reads the same, byte for byte. By default the keys are sorted; a key order may name keys that
/// lead, in the order named, before the rest, which follow sorted.
public struct JSONKeyOrder: Sendable {
    /// The keys that lead, in order; empty for plain sorted order.
    public let leading: [String]
    private let rank: [String: Int]

    /// Every key sorted, as replies and vendor requests are written.
    public static let sorted = JSONKeyOrder(leading: [])

    /// `leading` keys first, in this order (the first of a repeated key counts), then the rest sorted.
    public init(leading: [String]) {
        self.leading = leading
        var rank: [String: Int] = [:]
        for (index, key) in leading.enumerated() where rank[key] == nil { rank[key] = index }
        self.rank = rank
    }

    /// `keys` in this order.
    public func sorted(_ keys: some Collection<String>) -> [String] {
        guard !rank.isEmpty else { return keys.sorted() }
        return keys.sorted { lhs, rhs in
            let left = rank[lhs] ?? Int.max
            let right = rank[rhs] ?? Int.max
            return left != right ? left < right : lhs < rhs
        }
    }
}
