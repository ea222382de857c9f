import DequeModule

/// The newest `capacity` elements read from a topic, and how many were read in all: the console's
/// memory is bounded by its configuration, never by the topic. Not synchronised: its owner keeps
/// it in a `Mutex` with whatever else must change in the same step.
struct RecentWindow<Element> {
    let capacity: Int
    private(set) var elements = Deque<Element>()
    private(set) var seen = 0

    init(capacity: Int) {
        self.capacity = capacity
    }

    /// Appends `element`; the oldest one when that went over `capacity`.
    @discardableResult
    mutating func append(_ element: Element) -> Element? {
        seen += 1
        elements.append(element)
        return elements.count > capacity ? elements.removeFirst() : nil
    }
}

extension RecentWindow: Sendable where Element: Sendable {}
