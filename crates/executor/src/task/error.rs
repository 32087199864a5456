//! `JoinError`: why a task produced no value.

use std::any::Any;
use std::fmt;
use std::sync::Mutex;

use crate::task::TaskId;
use crate::task::header::Header;

/// Why awaiting a [`JoinHandle`](crate::JoinHandle) gave no value: the task was cancelled
/// with [`abort`](crate::JoinHandle::abort) (or its loop was dropped), or it panicked.
///
/// Its `Display` names the task and, for a panic, the panic message:
/// `task 'fleet-7' (id 3) panicked: boom`.
pub struct JoinError {
    inner: Box<Inner>,
}

struct Inner {
    id: TaskId,
    name: String,
    repr: Repr,
}

enum Repr {
    Cancelled,
    /// The payload sits behind a mutex only so that `JoinError` is `Sync`, as errors
    /// usually are; it is locked once, when taken.
    Panic {
        message: String,
        payload: Mutex<Box<dyn Any + Send>>,
    },
}

impl JoinError {
    pub(crate) fn cancelled(header: &Header) -> JoinError {
        JoinError::new(header, Repr::Cancelled)
    }

    pub(crate) fn panic(header: &Header, payload: Box<dyn Any + Send>) -> JoinError {
        let message = panic_message(&*payload).to_owned();
        JoinError::new(
            header,
            Repr::Panic {
                message,
                payload: Mutex::new(payload),
            },
        )
    }

    /// The error of a job that panicked outside any task, on another thread, on a task's
    /// behalf: the facade's `to_thread` reports its jobs' panics with it. `name` says what
    /// ran; the [`id`](JoinError::id) is 0, since no loop numbered the job.
    ///
    /// ```
    /// use handloop_executor::JoinError;
    ///
    /// let payload = std::panic::catch_unwind(|| panic!("disk full")).unwrap_err();
    /// let error = JoinError::from_panic("to_thread(save)", payload);
    /// assert!(error.is_panic());
    /// assert_eq!(error.to_string(), "task 'to_thread(save)' (id 0) panicked: disk full");
    /// ```
    pub fn from_panic(name: &str, payload: Box<dyn Any + Send>) -> JoinError {
        let message = panic_message(&*payload).to_owned();
        JoinError {
            inner: Box::new(Inner {
                id: TaskId(0),
                name: name.to_owned(),
                repr: Repr::Panic {
                    message,
                    payload: Mutex::new(payload),
                },
            }),
        }
    }

    /// A task's cancellation, by its id and name (for a task whose header is not at hand).
    pub(crate) fn cancelled_task(id: TaskId, name: String) -> JoinError {
        JoinError::from_parts(id, name, Repr::Cancelled)
    }

    /// A task's panic, by its id and name.
    pub(crate) fn panicked_task(
        id: TaskId,
        name: String,
        payload: Box<dyn Any + Send>,
    ) -> JoinError {
        let message = panic_message(&*payload).to_owned();
        JoinError::from_parts(
            id,
            name,
            Repr::Panic {
                message,
                payload: Mutex::new(payload),
            },
        )
    }

    fn new(header: &Header, repr: Repr) -> JoinError {
        JoinError::from_parts(header.id, header.name().to_owned(), repr)
    }

    fn from_parts(id: TaskId, name: String, repr: Repr) -> JoinError {
        JoinError {
            inner: Box::new(Inner { id, name, repr }),
        }
    }

    /// The task was cancelled (its handle was aborted, or its loop was dropped).
    pub fn is_cancelled(&self) -> bool {
        matches!(self.inner.repr, Repr::Cancelled)
    }

    /// The task panicked.
    pub fn is_panic(&self) -> bool {
        matches!(self.inner.repr, Repr::Panic { .. })
    }

    /// The id of the task.
    pub fn id(&self) -> TaskId {
        self.inner.id
    }

    /// The name of the task.
    pub fn name(&self) -> &str {
        &self.inner.name
    }

    /// The panic message, if the task panicked with a string (`"<non-string panic>"`
    /// otherwise).
    pub fn panic_message(&self) -> Option<&str> {
        match &self.inner.repr {
            Repr::Panic { message, .. } => Some(message),
            Repr::Cancelled => None,
        }
    }

    /// The panic payload, to resume the panic with `std::panic::resume_unwind`.
    ///
    /// # Panics
    /// If the task was cancelled rather than panicking; see [`JoinError::try_into_panic`].
    pub fn into_panic(self) -> Box<dyn Any + Send> {
        self.try_into_panic().expect(
            "JoinError::into_panic called on a cancelled task's error; check is_panic() first",
        )
    }

    /// The panic payload, or the error back if the task was cancelled.
    pub fn try_into_panic(self) -> Result<Box<dyn Any + Send>, JoinError> {
        match self.inner.repr {
            Repr::Panic { payload, .. } => Ok(payload
                .into_inner()
                .unwrap_or_else(|poison| poison.into_inner())),
            Repr::Cancelled => Err(self),
        }
    }
}

/// The message of a panic payload: the `&str` or `String` given to `panic!`, or
/// `"<non-string panic>"`. Useful to anyone who catches a task's panic themselves.
///
/// ```
/// use handloop_executor::task::panic_message;
///
/// let caught = |f: fn()| std::panic::catch_unwind(f).unwrap_err();
/// assert_eq!(panic_message(&*caught(|| panic!("plain"))), "plain");
/// assert_eq!(panic_message(&*caught(|| panic!("fleet {}", 7))), "fleet 7");
/// let other = caught(|| std::panic::panic_any(42));
/// assert_eq!(panic_message(&*other), "<non-string panic>");
/// ```
pub fn panic_message(payload: &(dyn Any + Send)) -> &str {
    if let Some(message) = payload.downcast_ref::<&'static str>() {
        message
    } else if let Some(message) = payload.downcast_ref::<String>() {
        message
    } else {
        "<non-string panic>"
    }
}

impl fmt::Display for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Inner { id, name, repr } = &*self.inner;
        match repr {
            Repr::Cancelled => write!(f, "task '{name}' (id {id}) was cancelled"),
            Repr::Panic { message, .. } => write!(f, "task '{name}' (id {id}) panicked: {message}"),
        }
    }
}

impl fmt::Debug for JoinError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let Inner { id, name, repr } = &*self.inner;
        let mut d = match repr {
            Repr::Cancelled => f.debug_struct("JoinError::Cancelled"),
            Repr::Panic { .. } => f.debug_struct("JoinError::Panic"),
        };
        d.field("id", id).field("name", name);
        if let Repr::Panic { message, .. } = repr {
            d.field("message", message);
        }
        d.finish()
    }
}

impl std::error::Error for JoinError {}
