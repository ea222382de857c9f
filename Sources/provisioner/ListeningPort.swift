import ArgumentParser
import Foundation

/// A port that the configuration asks a server to listen on, tried before anything else
/// starts: taken (a second worker on the same host with the same file) or refused, it is a
/// configuration error naming its key and the port, exit 64 (contract section 8), and the
/// worker never joins its Kafka group only to leave it at once.
///
/// The check binds as the HTTP server will (the same address, `SO_REUSEADDR`) and lets go at
/// once: on Linux that bind fails exactly when another socket listens on the port. Port 0
/// (the kernel's pick) is always free.
enum ListeningPort {
    static func check(_ key: String, host: String, port: Int) throws {
        guard port != 0, let problem = problem(host: host, port: port) else { return }
        FileHandle.standardError.write(Data("configuration error: \(key): \(problem)\n".utf8))
        throw ExitCode(64)
    }

    /// Why `host:port` cannot be listened on, or nil when it can.
    static func problem(host: String, port: Int) -> String? {
        var hints = addrinfo()
        hints.ai_flags = AI_PASSIVE
        hints.ai_socktype = Int32(SOCK_STREAM.rawValue)
        var found: UnsafeMutablePointer<addrinfo>?
        guard getaddrinfo(host, String(port), &hints, &found) == 0, let address = found else { return "cannot resolve \(host)" }
        defer { freeaddrinfo(found) }
        let descriptor = socket(address.pointee.ai_family, address.pointee.ai_socktype, address.pointee.ai_protocol)
        guard descriptor >= 0 else { return nil }  // No socket to try with: the server will say.
        defer { close(descriptor) }
        var on: Int32 = 1
        _ = setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &on, socklen_t(MemoryLayout<Int32>.size))
        guard bind(descriptor, address.pointee.ai_addr, address.pointee.ai_addrlen) != 0 else { return nil }
        switch errno {
        case EADDRINUSE: return "port \(port) is already in use"
        case EACCES: return "port \(port) needs privileges this process lacks"
        default: return "cannot listen on \(host):\(port): \(String(cString: strerror(errno)))"
        }
    }
}
