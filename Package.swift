// swift-tools-version:6.1
import PackageDescription

let package = Package(
    name: "provisioner",
    platforms: [.macOS(.v15)],
    products: [
        .executable(name: "provisioner", targets: ["provisioner"]),
        .executable(name: "provisioner-bench", targets: ["ProvisionerBench"]),
        .library(name: "Kafka", targets: ["Kafka"]),
        .library(name: "ProvisioningContract", targets: ["ProvisioningContract"]),
    ],
    traits: [
        // Off by default, so that the default build compiles no OTLP exporter (swift-otel, SwiftProtobuf).
        .trait(name: "OTLP", description: "Export the worker's spans over OTLP/HTTP (swift-otel) when observability.otlp is configured.")
    ],
    dependencies: [
        .package(url: "https://github.com/apple/swift-argument-parser.git", from: "1.5.0"),
        .package(url: "https://github.com/apple/swift-log.git", from: "1.16.0"),
        .package(url: "https://github.com/apple/swift-collections.git", from: "1.1.0"),
        .package(url: "https://github.com/swift-server/swift-service-lifecycle.git", from: "2.6.0"),
        .package(url: "https://github.com/jpsim/Yams.git", from: "6.0.0"),
        .package(url: "https://github.com/swift-server/async-http-client.git", from: "1.37.0"),
        .package(url: "https://github.com/apple/swift-nio.git", from: "2.81.0"),
        .package(url: "https://github.com/apple/swift-nio-ssl.git", from: "2.37.0"),
        .package(url: "https://github.com/hummingbird-project/hummingbird.git", from: "2.28.0"),
        .package(url: "https://github.com/apple/swift-metrics.git", from: "2.13.0"),
        .package(url: "https://github.com/swift-server/swift-prometheus.git", from: "2.4.0"),
        .package(url: "https://github.com/apple/swift-distributed-tracing.git", from: "1.3.0"),
        .package(url: "https://github.com/swift-otel/swift-w3c-trace-context.git", from: "1.0.0"),
        .package(url: "https://github.com/swift-otel/swift-otel.git", from: "1.6.0", traits: ["OTLPHTTP"]),
        // Micro-benchmarks (Benchmarks/HotPath). Its traits listed explicitly: the default set adds
        // the Swift 6.3 runtime interposer on Linux, which we do not use (malloc counts only).
        .package(url: "https://github.com/ordo-one/benchmark.git", exact: "1.38.1", traits: ["MallocInterposer"]),
    ],
    targets: [
        // librdkafka from the system (Debian: librdkafka-dev), never vendored.
        .systemLibrary(
            name: "CRdKafka",
            pkgConfig: "rdkafka",
            providers: [.apt(["librdkafka-dev"])]
        ),
        // Kafka client and embedded cluster over librdkafka. Knows nothing of provisioning.
        .target(
            name: "Kafka",
            dependencies: [
                "CRdKafka",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The wire format of contract sections 2 to 5: commands, users, replies. No Kafka, no vendors.
        .target(name: "ProvisioningContract"),
        // Contract section 7: YAML, environment overrides, secrets, validation.
        .target(
            name: "ProvisionerConfiguration",
            dependencies: ["ProvisioningContract", .product(name: "Yams", package: "Yams")]
        ),
        // Routing and the vendor adapter interface: from a record's value to its reply. No Kafka.
        .target(
            name: "Provisioning",
            dependencies: [
                "ProvisioningContract",
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Instrumentation", package: "swift-distributed-tracing"),
            ]
        ),
        // Redacting JSON/text log lines and W3C trace context propagation. No Kafka, no vendors.
        .target(
            name: "Observability",
            dependencies: [
                "ProvisioningContract",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "W3CTraceContext", package: "swift-w3c-trace-context"),
            ]
        ),
        // One adapter per vendor kind (a folder each) over one shared HTTP client. No Kafka.
        .target(
            name: "VendorAdapters",
            dependencies: [
                "Provisioning", "ProvisioningContract",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        // `provisioner simulate`: the four vendor APIs in memory, on one port, with fault controls.
        .target(
            name: "VendorSimulators",
            dependencies: [
                "ProvisioningContract",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The worker: Kafka in, key-ordered concurrency, replies and dead letters out, commits.
        .target(
            name: "Worker",
            dependencies: [
                "Kafka", "Provisioning", "ProvisioningContract",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
        // Dead-letter redrive (contract section 11): selection, preview, pacing, pause and
        // cancel, the audit record. Behind `dlq replay` and the console; no terminal, no HTTP.
        .target(
            name: "Redrive",
            dependencies: [
                "Kafka", "ProvisioningContract",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // The worker built from a configuration, and the configuration's Kafka settings as client
        // configurations: one place that `run`, `dev` and the tests share.
        .target(
            name: "Assembly",
            dependencies: [
                "Kafka", "Worker", "Provisioning", "ProvisionerConfiguration", "VendorAdapters",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The embedded cluster with the contract's topics, and its fault-injection API (contract
        // section 9): `provisioner broker` and `dev`, for local runs and tests only.
        .target(
            name: "EmbeddedKafka",
            dependencies: [
                "Kafka", "ProvisioningContract",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        // Reconcile (contract section 12): which commands got an answer, from the commands,
        // replies and dead-letter topics read without a group; re-publishing the unanswered.
        .target(
            name: "Reconcile",
            dependencies: [
                "Kafka", "ProvisioningContract",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // `provisioner console` (contract sections 10 and 11): a Hummingbird application over
        // what it reads from Kafka, bounded windows in memory. Reads Kafka only, but redrives.
        .target(
            name: "Console",
            dependencies: [
                "Kafka", "ProvisioningContract", "Redrive",
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "DequeModule", package: "swift-collections"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .executableTarget(
            name: "provisioner",
            dependencies: [
                "Assembly", "Kafka", "EmbeddedKafka", "Worker", "Redrive", "Reconcile", "Console", "Provisioning", "ProvisioningContract",
                "ProvisionerConfiguration",
                "VendorAdapters", "VendorSimulators", "Observability",
                .product(name: "Tracing", package: "swift-distributed-tracing"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Hummingbird", package: "hummingbird"),
                .product(name: "Metrics", package: "swift-metrics"),
                .product(name: "Prometheus", package: "swift-prometheus"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "OTel", package: "swift-otel", condition: .when(traits: ["OTLP"])),
            ]
        ),
        // `provisioner-bench`: the scenarios of Benchmarks/README-style table against the raw Kafka path.
        .executableTarget(
            name: "ProvisionerBench",
            dependencies: [
                "Kafka", "ProvisioningContract",
                .product(name: "ArgumentParser", package: "swift-argument-parser"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
            ],
            path: "Benchmarks/ProvisionerBench"
        ),
        // `scripts/microbench`: package-benchmark micro-benchmarks of one command's hot path
        // (decode, plan, reply, log line, state machine, span), wall time and allocations.
        .executableTarget(
            name: "HotPath",
            dependencies: [
                "Kafka", "Observability", "Provisioning", "ProvisioningContract", "VendorAdapters", "Worker",
                .product(name: "Benchmark", package: "benchmark"),
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ],
            path: "Benchmarks/HotPath",
            plugins: [.plugin(name: "BenchmarkPlugin", package: "benchmark")]
        ),
        // Two glibc declarations the Swift Glibc module hides, for TestSupport's subprocesses.
        .target(name: "CSpawn", path: "Tests/CSpawn"),
        // Helpers the test targets share.
        .target(name: "TestSupport", dependencies: ["CSpawn"], path: "Tests/TestSupport"),
        .testTarget(
            name: "KafkaTests",
            dependencies: [
                "Kafka", "EmbeddedKafka", "ProvisioningContract",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // Runs the built `provisioner` as other processes would.
        .testTarget(
            name: "ProvisionerCLITests",
            dependencies: [
                "provisioner", "TestSupport",
                "Kafka",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "Logging", package: "swift-log"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOHTTP1", package: "swift-nio"),
            ]
        ),
        // The redrive engine against the embedded cluster: selection, audit, pacing, pause, cancel.
        .testTarget(
            name: "RedriveTests",
            dependencies: [
                "Redrive", "Kafka", "ProvisioningContract", "TestSupport",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The reconcile engine in process: its bookkeeping, and the topics on the embedded cluster.
        .testTarget(
            name: "ReconcileTests",
            dependencies: [
                "Reconcile", "Kafka", "ProvisioningContract",
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "ProvisioningContractTests",
            dependencies: ["ProvisioningContract"]
        ),
        .testTarget(
            name: "WorkerTests",
            dependencies: [
                "Worker", "Assembly", "ProvisionerConfiguration", "TestSupport", "Kafka", "Provisioning", "ProvisioningContract", "VendorAdapters",
                "VendorSimulators",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "ServiceLifecycle", package: "swift-service-lifecycle"),
            ]
        ),
        .testTarget(
            name: "ProvisionerConfigurationTests",
            dependencies: ["ProvisionerConfiguration", "ProvisioningContract", "TestSupport"]
        ),
        // The adapters against the simulators over HTTP: seed examples, every error code, tokens.
        .testTarget(
            name: "VendorAdapterTests",
            dependencies: [
                "VendorAdapters", "VendorSimulators", "Provisioning", "ProvisioningContract",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "NIOPosix", package: "swift-nio"),
                .product(name: "NIOSSL", package: "swift-nio-ssl"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        // The simulators over HTTP as a vendor client would see them: shapes, rules, controls.
        .testTarget(
            name: "VendorSimulatorTests",
            dependencies: [
                "VendorSimulators", "ProvisioningContract",
                .product(name: "AsyncHTTPClient", package: "async-http-client"),
                .product(name: "NIOCore", package: "swift-nio"),
                .product(name: "Logging", package: "swift-log"),
            ]
        ),
        .testTarget(
            name: "ProvisioningTests",
            dependencies: ["Provisioning", "ProvisioningContract"]
        ),
        .testTarget(
            name: "ObservabilityTests",
            dependencies: [
                "Observability", "ProvisioningContract",
                .product(name: "Logging", package: "swift-log"),
                .product(name: "Tracing", package: "swift-distributed-tracing"),
            ]
        ),
    ],
    swiftLanguageModes: [.v6]
)
