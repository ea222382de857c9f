import Foundation
import Kafka
import Provisioning
import Tracing

/// One command to run: a record, when it was received, and where its steps stand.
package struct Job: Sendable {
    let message: KafkaConsumerMessage
    /// Commands with the same key run one after another, in offset order.
    let key: String
    let receivedAt: Date
    /// Which assignment of its partition the job belongs to: events about a job of an earlier
    /// assignment (the partition left and came back meanwhile) must not touch the new one.
    var epoch: UInt64 = 0
    /// Set once the command has been routed; carries its attempts across retries. Boxed, with
    /// the span: most jobs wait in queues without either, and a job there should cost little
    /// more than its record.
    var progress: CommandProcessor.Progress? { started?.progress }
    /// The command's trace span, started at its first step, ended at its reply.
    var span: (any Span)? { started?.span }
    private var started: Started?

    private final class Started: Sendable {
        let progress: CommandProcessor.Progress?
        let span: any Span

        init(progress: CommandProcessor.Progress?, span: any Span) {
            self.progress = progress
            self.span = span
        }
    }

    package init(message: KafkaConsumerMessage, key: String, receivedAt: Date) {
        self.message = message
        self.key = key
        self.receivedAt = receivedAt
    }

    /// The job after a step: where it stands, and its span.
    func advanced(to progress: CommandProcessor.Progress?, span: any Span) -> Job {
        var job = self
        job.started = Started(progress: progress, span: span)
        return job
    }

    var partition: KafkaTopicPartition { message.topicPartition }
    var offset: Int64 { message.offset }
    /// What the job holds in memory, roughly: its record and the bookkeeping around it.
    var size: Int { (message.value?.count ?? 0) + (message.key?.count ?? 0) + 2 * key.utf8.count + 256 }
}
