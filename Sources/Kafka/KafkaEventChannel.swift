import DequeModule
import Synchronization

/// A single-reader queue from the poll thread to one Swift task. Unlike `AsyncStream` it
/// reports how many messages wait, which drives the consumer's fetch back-pressure, and it may
/// be iterated again after a loop over it ended.
final class KafkaEventChannel: Sendable {
    private struct State {
        var buffer = Deque<KafkaConsumerEvent>()
        var bufferedMessages = 0
        var waiter: CheckedContinuation<KafkaConsumerEvent?, Never>?
        var finished = false
    }

    private let state = Mutex(State())
    private let lowWatermark: Int
    /// Called (outside the lock) when the buffered messages fall to the low watermark.
    private let onDrained: @Sendable () -> Void

    init(lowWatermark: Int, onDrained: @escaping @Sendable () -> Void) {
        self.lowWatermark = lowWatermark
        self.onDrained = onDrained
    }

    var bufferedMessages: Int { state.withLock { $0.bufferedMessages } }

    /// Hands an event to the reader. Returns false when nobody will ever read it.
    @discardableResult
    func push(_ event: KafkaConsumerEvent) -> Bool {
        let waiter = state.withLock { state -> CheckedContinuation<KafkaConsumerEvent?, Never>?? in
            if state.finished { return .none }
            if let waiter = state.waiter {
                state.waiter = nil
                return .some(waiter)
            }
            state.buffer.append(event)
            if case .message = event { state.bufferedMessages += 1 }
            return .some(nil)
        }
        switch waiter {
        case .none: return false
        case .some(let continuation?): continuation.resume(returning: event)
        case .some(nil): break
        }
        return true
    }

    func finish() {
        let waiter = state.withLock { state in
            state.finished = true
            defer { state.waiter = nil }
            return state.waiter
        }
        waiter?.resume(returning: nil)
    }

    func next() async -> KafkaConsumerEvent? {
        await withTaskCancellationHandler {
            await withCheckedContinuation { (continuation: CheckedContinuation<KafkaConsumerEvent?, Never>) in
                let (event, immediate, drained) = state.withLock { state -> (KafkaConsumerEvent?, Bool, Bool) in
                    if let event = state.buffer.popFirst() {
                        var drained = false
                        if case .message = event {
                            state.bufferedMessages -= 1
                            drained = state.bufferedMessages == lowWatermark
                        }
                        return (event, true, drained)
                    }
                    if state.finished || Task.isCancelled { return (nil, true, false) }
                    precondition(state.waiter == nil, "a KafkaConsumer's events are read by two tasks at once")
                    state.waiter = continuation
                    return (nil, false, false)
                }
                if drained { onDrained() }
                if immediate { continuation.resume(returning: event) }
            }
        } onCancel: {
            let waiter = state.withLock { state in
                defer { state.waiter = nil }
                return state.waiter
            }
            waiter?.resume(returning: nil)
        }
    }
}

/// The consumer's events as an `AsyncSequence`. Iterate it from one task only.
public struct KafkaConsumerEvents: AsyncSequence, Sendable {
    public typealias Element = KafkaConsumerEvent
    public typealias Failure = Never
    let channel: KafkaEventChannel

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(channel: channel)
    }

    /// The next event; nil once the consumer is closed or the calling task is cancelled.
    public func next() async -> KafkaConsumerEvent? { await channel.next() }

    public struct AsyncIterator: AsyncIteratorProtocol {
        public typealias Failure = Never
        let channel: KafkaEventChannel
        public mutating func next() async -> KafkaConsumerEvent? { await channel.next() }
    }
}

/// Only the messages: revocations are completed as soon as the next message is asked for,
/// i.e. once the caller is done with every message before them.
public struct KafkaConsumerMessages: AsyncSequence, Sendable {
    public typealias Element = KafkaConsumerMessage
    public typealias Failure = Never
    let events: KafkaConsumerEvents

    public func makeAsyncIterator() -> AsyncIterator {
        AsyncIterator(base: events.makeAsyncIterator())
    }

    public struct AsyncIterator: AsyncIteratorProtocol {
        public typealias Failure = Never
        let channel: KafkaEventChannel

        init(base: KafkaConsumerEvents.AsyncIterator) { channel = base.channel }

        public mutating func next() async -> KafkaConsumerMessage? {
            while let event = await channel.next() {
                switch event {
                case .message(let message): return message
                case .partitionsRevoked(let revocation): revocation.complete()
                case .partitionsAssigned, .offsetsCommitted, .error, .partitionEnd: continue
                }
            }
            return nil
        }
    }
}
