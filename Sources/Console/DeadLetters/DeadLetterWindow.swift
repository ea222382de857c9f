import Foundation
import Kafka
import Redrive
import Synchronization

/// The newest dead letters, at most `capacity` of them: the console's memory does not grow
/// with the topic. Older ones are still redriven by `provisioner dlq replay`, which reads it all.
final class DeadLetterWindow: Sendable {
    private let window: Mutex<RecentWindow<DeadLetter>>

    init(capacity: Int) {
        window = Mutex(RecentWindow(capacity: capacity))
    }

    func observe(_ message: KafkaConsumerMessage) {
        let letter = DeadLetter(message)
        window.withLock { _ = $0.append(letter) }
    }

    /// Newest first.
    func matching(_ filter: DeadLetterFilter) -> [DeadLetter] {
        window.withLock { $0.elements.reversed().filter(filter.matches) }
    }

    func letter(at position: DeadLetter.Position) -> DeadLetter? {
        window.withLock { $0.elements.last { $0.position == position } }
    }

    /// Every dead letter in the window, in topic order (what a redrive plan selects from).
    var all: [DeadLetter] { window.withLock { Array($0.elements) } }

    /// Dead letters read so far, and how many of them the window holds.
    var counts: (seen: Int, held: Int) { window.withLock { ($0.seen, $0.elements.count) } }
}
