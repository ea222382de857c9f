import Foundation

/// How a worker runs, beyond its Kafka clients.
public struct WorkerSettings: Sendable {
    public var repliesTopic: String
    public var deadLettersTopic: String
    public var groupId: String
    /// Commands running at once, across keys.
    public var maxInFlight: Int = 256
    /// Queued commands of one partition at which it is paused; it resumes at half. Kafka hands
    /// out a partition in order, so the other keys of a hot key's partition get past its backlog
    /// only as far as this reaches: the bound is mostly in bytes, what memory it costs.
    public var maxQueuedPerPartition: Int = 8192
    /// Bytes of queued commands (records and bookkeeping) of one partition at which it is paused.
    public var maxQueuedBytesPerPartition: Int = 4 << 20
    /// Bytes of queued commands of all partitions together at which the partition a record
    /// arrives on is paused: a worker owning many partitions stays within its memory.
    public var maxQueuedBytes: Int = 32 << 20
    public var commitInterval: Duration = .seconds(1)
    /// Commands of one partition that may start past the group's last acknowledged commit: at
    /// most what the partition's next owner repeats if this worker dies or is fenced. At half of
    /// it the worker commits early; at all of it new commands wait until a commit lands.
    /// Default: twice `maxInFlight`.
    public var maxUncommittedPerPartition: Int?
    /// How long work may wait at that bound for a commit to land; then it goes on regardless.
    public var maxCommitWait: Duration = .seconds(30)
    /// How long a revocation waits for the revoked partitions' running commands.
    public var revokeGracePeriod: Duration = .seconds(10)
    public var shutdownGracePeriod: Duration = .seconds(30)
    /// `host/pid`, in replies and dead letters.
    public var workerId: String

    /// The state machine's bounds.
    package var limits: WorkerStateMachine.Limits {
        WorkerStateMachine.Limits(
            maxInFlight: maxInFlight, maxQueuedPerPartition: maxQueuedPerPartition, maxQueuedBytesPerPartition: maxQueuedBytesPerPartition,
            maxQueuedBytes: maxQueuedBytes, maxUncommittedPerPartition: maxUncommittedPerPartition ?? 2 * maxInFlight, maxCommitWait: maxCommitWait
        )
    }

    public init(repliesTopic: String, deadLettersTopic: String, groupId: String, workerId: String) {
        self.repliesTopic = repliesTopic
        self.deadLettersTopic = deadLettersTopic
        self.groupId = groupId
        self.workerId = workerId
    }
}
