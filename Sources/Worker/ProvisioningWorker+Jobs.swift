import Foundation
import Kafka
import Logging
import Provisioning
import ProvisioningContract
import Tracing

/// A job's task: runs a command's steps, publishes its records, and goes on with the next job
/// its hand-off frees (usually its key's next command), so that a busy worker starts few tasks.
extension ProvisioningWorker {
    func run(_ first: Job) async {
        var next: Job? = first
        while let job = next {
            next = await execute(job)
        }
    }

    /// One step of the job; returns the job this task runs next, if any.
    private func execute(_ job: Job) async -> Job? {
        let span = job.span ?? tracer.commandSpan(for: job.message)
        WorkerMetrics.inFlight.increment()
        let step = await ServiceContext.withValue(span.context) {
            await processor.step(job.message.value, receivedAt: job.receivedAt, progress: job.progress)
        }
        WorkerMetrics.inFlight.decrement()
        switch step {
        case .finished(let result):
            WorkerMetrics.reply(result.reply)
            let succeeded = result.reply.status == .succeeded
            tally(result.reply.target) { tally in
                if succeeded { tally.succeeded += 1 } else { tally.failed += 1 }
            }
            if let error = result.deadLetter { WorkerMetrics.deadLetter(error.category) }
            logFinished(result)
            span.attributes["provisioning.status"] = result.reply.status.rawValue
            if let target = result.reply.target { span.attributes["provisioning.target"] = target }
            if let operation = result.reply.operation { span.attributes["provisioning.operation"] = operation }
            if let error = result.reply.error {
                span.attributes["provisioning.error.category"] = error.category.rawValue
                span.setStatus(SpanStatus(code: .error, message: error.category.rawValue))
            }
            let records = self.records(for: result, of: job, trace: span.context)
            span.end()
            // Queued behind the key's earlier records, which Kafka writes in that order: the
            // key's next command may start now; the offset waits for the acknowledgement.
            await publishing.publish(records, of: job.partition, at: job.offset) { [self] in
                apply(machine.withLock { $0.acknowledged(job) })
            }
            return apply(machine.withLock { $0.handedOff(job) }, keepingOne: true)
        case .retry(let delay, let progress):
            if let failure = progress.lastFailure, progress.attempts > (job.progress?.attempts ?? 0) {
                var metadata = CommandIdentity(progress.command).metadata
                metadata["attempt"] = "\(progress.attempts)"
                metadata["retryIn"] = "\(delay)"
                metadata["category"] = "\(failure.error.category.rawValue)"
                metadata["reason"] = "\(Redaction.scrub(failure.error.message, knownSecrets: progress.command.secretValues))"
                logger.info("vendor call failed; retrying", metadata: metadata)
                tally(progress.command.target) { $0.retries += 1 }
            }
            // The command waits without a slot and without a task: a timer entry puts it back
            // in line. Only its own key waits with it.
            guard let parked = park(job.advanced(to: progress, span: span)) else { return nil }
            wakeUps.schedule(at: .now + delay) { [weak self] in self?.due(parked) }
            return nil
        case .waitForTarget(let ticket, let progress):
            // Woken by the target's guards when a slot is granted to it (or its wait is over).
            guard let parked = park(job.advanced(to: progress, span: span)) else {
                processor.release(progress)
                return nil
            }
            ticket.onWake { [weak self] in self?.due(parked) }
            return nil
        }
    }

    /// Parks the job until `due`: its slot goes to other keys. Nil when it is given up instead
    /// (its partition left, or stopping): its span ends here.
    private func park(_ job: Job) -> Job? {
        let (keep, actions) = machine.withLock { $0.retry(job) }
        apply(actions)
        guard keep else {
            job.span?.end()
            return nil
        }
        return job
    }

    /// A parked job's wait is over: it is first in line for a slot. If it was given up
    /// meanwhile, what it holds at its target goes back.
    private func due(_ job: Job) {
        let (parked, actions) = machine.withLock { machine in (machine.isParked(job), machine.retryDue(job)) }
        if !parked {
            if let progress = job.progress { processor.release(progress) }
            job.span?.end()
        }
        apply(actions)
    }

    /// One line per command: succeeded at info, failed at notice, dead-lettered at warning.
    /// The metadata is built only when the line is written: this runs for every command.
    private func logFinished(_ result: CommandProcessor.Result) {
        let reply = result.reply
        let level: Logger.Level = reply.error == nil ? .info : result.deadLetter == nil ? .notice : .warning
        guard logger.logLevel <= level else { return }
        var metadata = CommandIdentity(reply).metadata
        metadata["status"] = "\(reply.status.rawValue)"
        metadata["attempts"] = "\(reply.attempts)"
        metadata["durationMs"] = "\(reply.durationMs)"
        if let vendorUserId = reply.vendorUserId { metadata["vendorUserId"] = "\(vendorUserId)" }
        if let error = reply.error {
            metadata["category"] = "\(error.category.rawValue)"
            metadata["code"] = "\(error.code)"
            metadata["reason"] = "\(error.message)"
        }
        let message: Logger.Message =
            switch level {
            case .info: "command succeeded"
            case .notice: "command failed"
            default: "command failed; dead-lettered"
            }
        logger.log(level: level, message, metadata: metadata)
    }

    /// The reply and, if the command failed for good, its dead letter.
    private func records(for result: CommandProcessor.Result, of job: Job, trace: ServiceContext) -> [KafkaProducerMessage] {
        var records: [KafkaProducerMessage] = []
        let replyKey = job.message.key ?? result.command.map { Array($0.derivedKey.utf8) }
        do {
            var headers = result.reply.headers().map { KafkaHeader(key: $0.key, value: $0.value) }
            // The reply continues the command's trace: same trace id, the worker's span as parent.
            tracer.inject(trace, into: &headers, using: KafkaHeadersInjector())
            records.append(KafkaProducerMessage(topic: settings.repliesTopic, key: replyKey, value: try result.reply.encoded(), headers: headers))
        } catch {
            logger.error("cannot encode reply", metadata: ["commandId": "\(result.reply.commandId ?? "")", "error": "\(error)"])
        }
        if let error = result.deadLetter {
            let headers = DeadLetterHeaders(
                originalTopic: job.message.topic, originalPartition: job.message.partition, originalOffset: job.message.offset,
                originalTimestamp: job.message.timestampMilliseconds, consumerGroup: settings.groupId, error: error,
                attempts: result.reply.attempts, failedAt: result.reply.completedAt, worker: settings.workerId
            )
            records.append(
                KafkaProducerMessage(
                    topic: settings.deadLettersTopic, key: job.message.key, value: job.message.value,
                    headers: job.message.headers + headers.all.map { KafkaHeader(key: $0.key, value: $0.value) }
                ))
        }
        return records
    }
}
