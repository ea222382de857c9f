import Assembly
import Foundation
import Kafka
import Logging
import ProvisionerConfiguration
import ProvisioningContract
import TestSupport
import Testing
import VendorAdapters
import VendorSimulators
import Worker

/// The worker as `run` and `dev` build it, from a configuration, in process.
@Suite("The worker assembled from a configuration", .timeLimit(.minutes(10)))
struct AssemblyTests {
    @Test(
        "a worker built from a configuration answers each command through the simulator on the configured topics, and publishes its status; in both delivery modes",
        arguments: [false, true])
    func assembled(exactlyOnce: Bool) async throws {
        try await WorkerKafka.with { kafka in
            try kafka.cluster.createTopic("status", partitions: 1)
            let simulator = VendorSimulator()
            try await SimulatorServer.withRunning(simulator, port: 0, logger: kafka.logger) { server in
                let yaml = """
                    kafka:
                      bootstrapServers: \(kafka.cluster.bootstrapServers)
                      groupId: assembled
                      topics: { commands: commands, replies: replies, deadLetters: dlq, status: status }
                      properties: { session.timeout.ms: "4000" }
                    worker:
                      exactlyOnce: \(exactlyOnce)
                    targets:
                      tecs-test:
                        vendor: tecs
                        baseURL: \(server.baseURL)/usermanagement-backofficews
                        credentials: { username: env:TECS_USERNAME, password: env:TECS_PASSWORD }
                    """
                let settings = try ProvisionerConfiguration.parse(yaml: yaml, environment: ["TECS_USERNAME": "User1", "TECS_PASSWORD": "Password1"])
                let http = LeanHTTPClient()
                let worker = try WorkerAssembly.worker(settings: settings, workerId: "test/assembled", version: "0.0.0-test", http: http, logger: kafka.logger)
                try await withThrowingTaskGroup(of: Void.self) { group in
                    group.addTask { await worker.runUntilStopped() }
                    try await KafkaProducer.with(configuration: settings.kafka.producerConfiguration, logger: kafka.logger) { producer in
                        for index in 0..<3 {
                            try await producer.send(
                                KafkaProducerMessage(
                                    topic: "commands", key: "tecs-test:user\(index)",
                                    value:
                                        #"{"commandId":"a-\#(index)","target":"tecs-test","operation":"createUser","user":{"userName":"user\#(index)","email":"u\#(index)@example.com","givenName":"U","familyName":"Ser"}}"#
                                ))
                        }
                    }
                    // As an upstream system reads them; committed ones only, in exactly-once mode.
                    let replies = KafkaTopicReader(
                        bootstrapServers: kafka.cluster.bootstrapServers, topic: "replies", properties: ["isolation.level": "read_committed"],
                        logger: kafka.logger)
                    let answered = try await withDeadline(60) { [replies] in
                        var seen: [String: ProvisioningReply] = [:]
                        try await replies.follow { message in
                            let reply = try ProvisioningReply(decoding: message.value ?? [])
                            if let id = reply.commandId { seen[id] = reply }
                            return seen.count < 3
                        }
                        return seen
                    }
                    worker.stop()
                    try await group.waitForAll()
                    #expect(answered.keys.sorted() == ["a-0", "a-1", "a-2"])
                    #expect(answered.values.allSatisfy { $0.status == .succeeded }, "\(answered.values.map(\.status))")
                }
                await http.shutdown()
                #expect(simulator.users(.tecs).count == 3, "each user created once at the vendor")
                let status = try await KafkaTopicReader(bootstrapServers: kafka.cluster.bootstrapServers, topic: "status", logger: kafka.logger).readToEnd()
                #expect(status.contains { $0.key == Array("test/assembled".utf8) }, "the worker's status record, keyed by its id")
            }
        }
    }
}
