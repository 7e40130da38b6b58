//! Valgrind client requests (x86-64), for the constant-time check: memory
//! holding a secret is marked *undefined*, so memcheck reports any branch or
//! memory address that depends on it (the "ctgrind" technique). Outside
//! valgrind these are no-ops.

/// `VG_USERREQ__MAKE_MEM_UNDEFINED`.
const MAKE_MEM_UNDEFINED: usize = 0x4d43_0001;
/// `VG_USERREQ__MAKE_MEM_DEFINED`.
const MAKE_MEM_DEFINED: usize = 0x4d43_0002;

#[cfg(target_arch = "x86_64")]
fn client_request(request: usize, addr: usize, len: usize) -> usize {
    let args: [usize; 6] = [request, addr, len, 0, 0, 0];
    let result: usize;
    // SAFETY: valgrind's documented magic sequence. The four rotations of rdi
    // total 128 bits, leaving it unchanged; natively the sequence does nothing
    // and rdx keeps its default (0). Under valgrind, rax points at `args`.
    unsafe {
        core::arch::asm!(
            "rol rdi, 3",
            "rol rdi, 13",
            "rol rdi, 61",
            "rol rdi, 51",
            "xchg rbx, rbx",
            inout("rdx") 0usize => result,
            in("rax") args.as_ptr(),
            out("rdi") _,
            options(nostack, preserves_flags),
        );
    }
    result
}

#[cfg(not(target_arch = "x86_64"))]
fn client_request(_request: usize, _addr: usize, _len: usize) -> usize {
    0
}

/// Marks `bytes` as undefined for memcheck.
pub fn mark_secret<T: ?Sized>(value: &T) {
    client_request(MAKE_MEM_UNDEFINED, value as *const T as *const u8 as usize, std::mem::size_of_val(value));
}

/// Marks `bytes` as defined again (e.g. a result that is public).
pub fn mark_public<T: ?Sized>(value: &T) {
    client_request(MAKE_MEM_DEFINED, value as *const T as *const u8 as usize, std::mem::size_of_val(value));
}
