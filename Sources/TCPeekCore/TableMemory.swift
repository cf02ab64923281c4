#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// Storage for the flow tables: zeroed, backed only where touched, and on
/// Linux in 2 MiB pages where the kernel allows (`MADV_HUGEPAGE`; Debian's
/// default transparent-huge-page mode is "madvise").
///
/// The tables are probed at random, one line per packet: with 4 KiB pages
/// nearly every probe of a table larger than the TLB's reach also walks the
/// page tables, which inside a virtual machine costs more than the cache
/// miss itself. Trivial element types only (no deinitialisation).
enum TableMemory {
    static let hugePage = 2 << 20

    static func allocate<Element>(_: Element.Type, capacity: Int) -> UnsafeMutablePointer<Element> {
        let size = capacity * MemoryLayout<Element>.stride
        #if os(Linux)
        if size >= hugePage {
            let length = roundedUp(size)
            // Over-map by one huge page to cut out an aligned range.
            let mapped = mmap(nil, length + hugePage, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
            if let mapped, mapped != MAP_FAILED {
                let start = Int(bitPattern: mapped)
                let aligned = (start + hugePage - 1) & ~(hugePage - 1)
                if aligned > start { munmap(mapped, aligned - start) }
                let tail = start + length + hugePage - (aligned + length)
                if tail > 0 { munmap(UnsafeMutableRawPointer(bitPattern: aligned + length), tail) }
                let pointer = UnsafeMutableRawPointer(bitPattern: aligned)!
                _ = madvise(pointer, length, MADV_HUGEPAGE)
                return pointer.bindMemory(to: Element.self, capacity: capacity)
            }
        }
        #endif
        guard let memory = calloc(max(1, capacity), MemoryLayout<Element>.stride) else {
            fatalError("cannot allocate \(size) bytes for a flow table")
        }
        return memory.bindMemory(to: Element.self, capacity: capacity)
    }

    /// Frees what `allocate` returned for the same element type and capacity.
    static func free<Element>(_ pointer: UnsafeMutablePointer<Element>, capacity: Int) {
        let size = capacity * MemoryLayout<Element>.stride
        #if os(Linux)
        if size >= hugePage {
            munmap(UnsafeMutableRawPointer(pointer), roundedUp(size))
            return
        }
        #endif
        #if canImport(Glibc)
        Glibc.free(pointer)
        #else
        Darwin.free(pointer)
        #endif
    }

    private static func roundedUp(_ size: Int) -> Int {
        (size + hugePage - 1) & ~(hugePage - 1)
    }
}
