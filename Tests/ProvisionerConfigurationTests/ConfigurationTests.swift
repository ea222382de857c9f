import Foundation
import ProvisionerConfiguration
import ProvisioningContract
import Testing

@Suite("Configuration (contract section 7)", .timeLimit(.minutes(10)))
struct ConfigurationTests {
    /// The repository's sample, `config/worker.yaml`.
    static let samplePath = URL(fileURLWithPath: #filePath)
        .deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("config/worker.yaml").path

    static let secrets = [
        "TECS_USERNAME": "User1", "TECS_PASSWORD": "Password1", "URAC_KEY": "k-123", "URAC_ACCESS_TOKEN": "t-456",
        "SM_USERNAME": "sm", "SM_PASSWORD": "sm-pw", "ASMS_USERNAME": "asms", "ASMS_PASSWORD": "asms-pw",
    ]

    @Test("the sample configuration loads, with secrets from the environment")
    func sample() throws {
        let configuration = try ProvisionerConfiguration.load(path: Self.samplePath, environment: Self.secrets)
        #expect(configuration.kafka.bootstrapServers == "127.0.0.1:9092")
        #expect(configuration.kafka.groupId == "provisioning-workers")
        #expect(configuration.kafka.commandsTopic == "provisioning.commands")
        #expect(configuration.kafka.deadLettersTopic == "provisioning.dlq")
        #expect(configuration.kafka.properties == ["session.timeout.ms": "10000"])
        #expect(configuration.worker.maxInFlight == 256)
        #expect(configuration.worker.shutdownGracePeriod == .seconds(30))
        #expect(configuration.observability.logFormat == .json)
        #expect(Set(configuration.targets.keys) == ["tecs-test", "urac-test", "servicemobility-test", "asms-test"])
        let tecs = try #require(configuration.targets["tecs-test"])
        #expect(tecs.vendor == .tecs)
        #expect(tecs.credentials["password"]?.revealed == "Password1")
        #expect(tecs.retry.initialBackoff == .milliseconds(200))
        #expect(tecs.rateLimit?.burst == 100)
        #expect(tecs.maxConcurrency == 64)
        #expect(configuration.targets["urac-test"]?.tenant == ["id": "5551aca9e179c39b760f7a1a", "code": "DBTN"])
    }

    @Test("environment variables override any key, including a target's")
    func overrides() throws {
        var environment = Self.secrets
        environment["PROVISIONER_KAFKA_BOOTSTRAPSERVERS"] = "broker-1:9092,broker-2:9092"
        environment["PROVISIONER_WORKER_MAXINFLIGHT"] = "512"
        environment["PROVISIONER_TARGETS_TECS_TEST_TIMEOUT"] = "2500ms"
        environment["PROVISIONER_KAFKA_PROPERTIES_SESSION_TIMEOUT_MS"] = "6000"
        let configuration = try ProvisionerConfiguration.load(path: Self.samplePath, environment: environment)
        #expect(configuration.kafka.bootstrapServers == "broker-1:9092,broker-2:9092")
        #expect(configuration.worker.maxInFlight == 512)
        #expect(configuration.targets["tecs-test"]?.timeout == .milliseconds(2500))
        #expect(configuration.kafka.properties["session.timeout.ms"] == "6000")
    }

    @Test("file: values are read from the file")
    func fileSecret() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("secret-\(UUID().uuidString)")
        try "from-a-file\n".write(to: file, atomically: true, encoding: .utf8)
        let yaml = """
            kafka: { bootstrapServers: 127.0.0.1:9092, groupId: g }
            targets:
              t: { vendor: tecs, baseURL: "http://127.0.0.1:8080/x", credentials: { username: u, password: "file:\(file.path)" } }
            """
        let configuration = try ProvisionerConfiguration.parse(yaml: yaml, environment: [:])
        #expect(configuration.targets["t"]?.credentials["password"]?.revealed == "from-a-file")
    }

    @Test(
        "a bad value is refused with a message naming its key",
        arguments: [
            ("worker: { maxInFlight: lots }", "worker.maxInFlight"),
            ("worker: { shutdownGracePeriod: forever }", "worker.shutdownGracePeriod"),
            ("worker: { exactlyOnce: maybe }", "worker.exactlyOnce"),
            ("observability: { logFormat: xml }", "observability.logFormat"),
            ("observability: { port: 70000 }", "observability.port"),
            ("targets: { t: { vendor: sap, baseURL: 'http://h/x' } }", "targets.t.vendor"),
            ("targets: { t: { vendor: tecs, baseURL: 'ftp://h/x', credentials: { username: u, password: p } } }", "targets.t.baseURL"),
            ("targets: { t: { vendor: tecs, baseURL: 'http://h/x', credentials: { username: u } } }", "targets.t.credentials.password"),
            (
                "targets: { t: { vendor: tecs, baseURL: 'http://h/x', credentials: { username: u, password: 'env:NOT_SET_ANYWHERE' } } }",
                "targets.t.credentials.password"
            ),
            ("targets: { t: { vendor: urac, baseURL: 'http://h/x', credentials: { key: k } } }", "targets.t.tenant"),
        ]
    )
    func badValues(_ yaml: String, _ key: String) {
        let full = "kafka: { bootstrapServers: 127.0.0.1:9092, groupId: g }\n" + yaml
        #expect {
            _ = try ProvisionerConfiguration.parse(yaml: full, environment: [:])
        } throws: { error in
            (error as? ConfigurationError)?.key == key && "\(error)".contains(key)
        }
    }

    @Test(
        "a command that reads only the kafka section loads a file whose console and vendor secrets name unset variables, while the worker's load refuses it naming the key"
    )
    func kafkaSectionOnly() throws {
        let file = FileManager.default.temporaryDirectory.appendingPathComponent("worker-\(UUID().uuidString).yaml")
        try """
        kafka: { bootstrapServers: 127.0.0.1:9092, groupId: g, properties: { sasl.password: env:KAFKA_SASL_PASSWORD } }
        worker: { maxInFlight: lots }
        console: { auth: { username: ops, password: env:CONSOLE_PASSWORD_NOT_SET } }
        targets:
          t: { vendor: tecs, baseURL: "http://127.0.0.1:8080/x", credentials: { username: u, password: env:TECS_PASSWORD_NOT_SET } }
        """.write(to: file, atomically: true, encoding: .utf8)
        defer { try? FileManager.default.removeItem(at: file) }
        let environment = ["KAFKA_SASL_PASSWORD": "from-the-environment"]

        let kafkaOnly = try ProvisionerConfiguration.load(path: file.path, environment: environment, sections: .kafka)
        #expect(kafkaOnly.kafka.groupId == "g")
        #expect(kafkaOnly.kafka.properties["sasl.password"] == "from-the-environment", "the kafka section's own secrets are resolved")
        #expect(kafkaOnly.targets.isEmpty)
        #expect(kafkaOnly.console.password == nil)
        #expect(kafkaOnly.worker.maxInFlight == 256, "a section not asked for holds its defaults")

        // The console reads its own section, so its secret must be there; the worker reads everything.
        #expect {
            _ = try ProvisionerConfiguration.load(path: file.path, environment: environment, sections: [.kafka, .console])
        } throws: { error in
            (error as? ConfigurationError)?.key == "console.auth.password"
        }
        #expect {
            _ = try ProvisionerConfiguration.load(path: file.path, environment: environment)
        } throws: { error in
            error is ConfigurationError
        }
    }

    @Test("missing Kafka settings are named")
    func missingKafka() {
        #expect {
            _ = try ProvisionerConfiguration.parse(yaml: "kafka: { groupId: g }", environment: [:])
        } throws: { error in
            (error as? ConfigurationError)?.key == "kafka.bootstrapServers"
        }
    }
}
