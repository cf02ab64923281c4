import CPcap
import TCPeekCore

#if canImport(Glibc)
import Glibc
#endif

/// The host's own addresses ("this host" of SPEC §3), read from the kernel.
public enum HostAddresses {
    /// Every IPv4 and IPv6 address of `interface`, or of all interfaces for
    /// `any`. Re-read periodically while capturing: addresses change.
    public static func of(interface: String) -> LocalAddresses {
        var result = LocalAddresses()
        var list: UnsafeMutablePointer<ifaddrs>?
        guard getifaddrs(&list) == 0, let first = list else { return result }
        defer { freeifaddrs(list) }
        var entry: UnsafeMutablePointer<ifaddrs>? = first
        while let current = entry {
            defer { entry = current.pointee.ifa_next }
            guard let name = current.pointee.ifa_name, let address = current.pointee.ifa_addr else { continue }
            if interface != "any", String(cString: name) != interface { continue }
            if let ip = ipAddress(address) { result.insert(ip) }
        }
        return result
    }

    static func ipAddress(_ address: UnsafeMutablePointer<sockaddr>) -> IPAddress? {
        switch Int32(address.pointee.sa_family) {
        case AF_INET:
            return address.withMemoryRebound(to: sockaddr_in.self, capacity: 1) {
                IPAddress(ipv4: UInt32(bigEndian: $0.pointee.sin_addr.s_addr))
            }
        case AF_INET6:
            return address.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { pointer in
                withUnsafeBytes(of: pointer.pointee.sin6_addr) { bytes in
                    IPAddress(high: UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 0, as: UInt64.self)),
                              low: UInt64(bigEndian: bytes.loadUnaligned(fromByteOffset: 8, as: UInt64.self)))
                }
            }
        default:
            return nil
        }
    }

    /// The first interface that is up, running and not loopback, as libpcap
    /// lists them (it orders the likeliest capture interfaces first).
    public static func defaultInterface() throws(CaptureError) -> String {
        var errorBuffer = [CChar](repeating: 0, count: Int(PCAP_ERRBUF_SIZE))
        var devices: UnsafeMutablePointer<pcap_if_t>?
        guard pcap_findalldevs(&devices, &errorBuffer) == 0 else {
            throw .failed("cannot list interfaces", detail: errorText(errorBuffer))
        }
        defer { pcap_freealldevs(devices) }
        var device = devices
        while let current = device {
            defer { device = current.pointee.next }
            let flags = current.pointee.flags
            let isUp = flags & UInt32(PCAP_IF_UP) != 0 && flags & UInt32(PCAP_IF_RUNNING) != 0
            let isLoopback = flags & UInt32(PCAP_IF_LOOPBACK) != 0
            let name = String(cString: current.pointee.name)
            if isUp, !isLoopback, name != "any", !name.hasPrefix("nf"), !name.contains("bluetooth"),
               !name.hasPrefix("dbus"), !name.hasPrefix("usbmon") {
                return name
            }
        }
        throw .noInterface
    }
}
