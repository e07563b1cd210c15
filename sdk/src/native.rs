//! Running plugin code natively, in-process, against a host that is not a wasm runtime.
//!
//! Two hosts need this: the test [`crate::testing::Harness`], and the platform's benchmarks,
//! which call the same plugin logic compiled natively to measure what the sandbox costs. Both
//! implement [`HostBridge`]; [`with_host`] makes one the answer to [`crate::host`] calls on
//! the current thread for the duration of a plugin call.

use std::cell::RefCell;
use std::rc::Rc;

use crate::host::{FactError, Level};

/// The host imports, as a native host provides them.
pub trait HostBridge {
    fn log(&self, level: Level, message: &str);
    fn now(&self) -> i64;
    fn config(&self, key: &str) -> Option<String>;
    fn fact(&self, person: &str, scope: &str, key: &str) -> Result<Option<String>, FactError>;
}

thread_local! {
    static CURRENT: RefCell<Option<Rc<dyn HostBridge>>> = const { RefCell::new(None) };
}

/// Run `f` (a plugin call) with `host` answering its host calls. Restores the previous host
/// afterwards, even if `f` panics.
pub fn with_host<R>(host: Rc<dyn HostBridge>, f: impl FnOnce() -> R) -> R {
    struct Restore(Option<Rc<dyn HostBridge>>);
    impl Drop for Restore {
        fn drop(&mut self) {
            let previous = self.0.take();
            CURRENT.with(|c| *c.borrow_mut() = previous);
        }
    }
    let previous = CURRENT.with(|c| c.borrow_mut().replace(host));
    let _restore = Restore(previous);
    f()
}

pub(crate) fn current<R>(f: impl FnOnce(&dyn HostBridge) -> R) -> R {
    let host = CURRENT.with(|c| c.borrow().clone()).expect(
        "no host on this thread: call plugin functions through proactive_sdk::testing::Harness \
         (or proactive_sdk::native::with_host)",
    );
    f(&*host)
}
