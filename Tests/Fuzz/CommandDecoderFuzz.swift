// libFuzzer entry point for the command decoder: every byte string a Kafka record can carry must
// be answered (a command or a rejection), never crash. Built and run by `scripts/fuzz`, which
// compiles it together with Sources/ProvisioningContract (no other dependencies).
import Foundation

@_cdecl("LLVMFuzzerTestOneInput")
public func fuzzCommandDecoder(_ data: UnsafePointer<UInt8>, _ size: Int) -> CInt {
    let bytes = Array(UnsafeBufferPointer(start: data, count: size))
    switch CommandDecoder.decode(bytes) {
    case .success(let command):
        // What the worker does next with a valid command must hold too.
        _ = command.derivedKey
        _ = "\(command)"
    case .failure(let rejection):
        precondition(!rejection.message.isEmpty, "a rejection always says why")
    }
    return 0
}
