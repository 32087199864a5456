//! `gather`, `try_gather`, `gather!` and `select`: waiting on several futures at once,
//! inside one task (asyncio's `gather` and `wait(FIRST_COMPLETED)`).

use std::fmt;
use std::future::{Future, IntoFuture};
use std::pin::Pin;
use std::task::{Context, Poll};

use crate::children::Children;

/// Runs the futures concurrently and returns their outputs in argument order
/// (asyncio's `gather(*aws)`).
///
/// The futures are polled in place, inside the awaiting task (nothing is spawned, so they
/// need not be `'static`), each with its own waker: a wake polls only the futures that were
/// woken, so gathering 10,000 futures costs O(woken) per wake, not O(10,000). For futures
/// of different types, use [`gather!`](crate::gather!).
///
/// ```
/// # handloop::run(async {
/// let squares = handloop::gather((1..=4).map(|n| async move { n * n })).await;
/// assert_eq!(squares, [1, 4, 9, 16]);
/// # });
/// ```
pub fn gather<I>(futures: I) -> Gather<<I::Item as IntoFuture>::IntoFuture>
where
    I: IntoIterator,
    I::Item: IntoFuture,
{
    let children = Children::new(futures.into_iter().map(IntoFuture::into_future));
    let outputs = Outputs::new(children.len());
    Gather { children, outputs }
}

/// The future returned by [`gather`].
#[must_use = "futures do nothing unless awaited"]
pub struct Gather<F: Future> {
    children: Children<F>,
    outputs: Outputs<F::Output>,
}

impl<F: Future> Unpin for Gather<F> {}

impl<F: Future> Future for Gather<F> {
    type Output = Vec<F::Output>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        loop {
            match this.children.poll_next(cx) {
                Poll::Ready(Some((index, output))) => this.outputs.set(index, output),
                Poll::Ready(None) => return Poll::Ready(this.outputs.take_all()),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<F: Future> fmt::Debug for Gather<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Gather")
            .field("futures", &self.children.len())
            .field("remaining", &self.children.remaining())
            .finish()
    }
}

/// The outputs of `gather` and `try_gather`, kept in argument order as they arrive.
struct Outputs<T>(Vec<Option<T>>);

impl<T> Outputs<T> {
    fn new(len: usize) -> Self {
        Outputs((0..len).map(|_| None).collect())
    }

    fn set(&mut self, index: usize, output: T) {
        self.0[index] = Some(output);
    }

    /// All the outputs, once every future completed.
    fn take_all(&mut self) -> Vec<T> {
        std::mem::take(&mut self.0)
            .into_iter()
            .map(|output| output.expect("every future completed"))
            .collect()
    }

    /// Drops the outputs that arrived (the gather failed).
    fn clear(&mut self) {
        self.0.clear();
    }
}

/// Like [`gather`] for futures that return `Result`: the first `Err` is returned at once
/// and the futures still running are dropped; otherwise all the `Ok` values, in order.
///
/// ```
/// async fn check(n: i32) -> Result<i32, String> {
///     if n >= 0 { Ok(n) } else { Err(format!("{n} is negative")) }
/// }
/// # handloop::run(async {
/// assert_eq!(handloop::try_gather([check(1), check(2)]).await, Ok(vec![1, 2]));
/// assert_eq!(
///     handloop::try_gather([check(1), check(-2), check(-3)]).await,
///     Err("-2 is negative".to_string()),
/// );
/// # });
/// ```
pub fn try_gather<I, T, E>(futures: I) -> TryGather<<I::Item as IntoFuture>::IntoFuture, T>
where
    I: IntoIterator,
    I::Item: IntoFuture<Output = Result<T, E>>,
{
    let children = Children::new(futures.into_iter().map(IntoFuture::into_future));
    let outputs = Outputs::new(children.len());
    TryGather { children, outputs }
}

/// The future returned by [`try_gather`].
#[must_use = "futures do nothing unless awaited"]
pub struct TryGather<F: Future, T> {
    children: Children<F>,
    outputs: Outputs<T>,
}

impl<F: Future, T> Unpin for TryGather<F, T> {}

impl<F, T, E> Future for TryGather<F, T>
where
    F: Future<Output = Result<T, E>>,
{
    type Output = Result<Vec<T>, E>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        loop {
            match this.children.poll_next(cx) {
                Poll::Ready(Some((index, Ok(output)))) => this.outputs.set(index, output),
                Poll::Ready(Some((_, Err(error)))) => {
                    this.children.drop_all();
                    this.outputs.clear();
                    return Poll::Ready(Err(error));
                }
                Poll::Ready(None) => return Poll::Ready(Ok(this.outputs.take_all())),
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

impl<F: Future, T> fmt::Debug for TryGather<F, T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TryGather")
            .field("futures", &self.children.len())
            .field("remaining", &self.children.remaining())
            .finish()
    }
}

/// Races the futures: the index and output of the first to complete; the others are
/// dropped (asyncio's `wait(aws, return_when=FIRST_COMPLETED)`, keeping only the winner).
/// To wait on spawned tasks and keep every handle, finished or not, use
/// [`wait`](crate::wait()).
///
/// Futures are polled in argument order on the first poll, so among futures ready at once
/// the first one wins.
///
/// ```
/// use std::time::Duration;
///
/// async fn after(seconds: u64, name: &str) -> &str {
///     handloop::sleep(Duration::from_secs(seconds)).await;
///     name
/// }
/// # let runtime = handloop::Runtime::builder().virtual_time().build().unwrap();
/// # runtime.block_on(async {
/// let winner = handloop::select([after(2, "slow"), after(1, "fast")]).await;
/// assert_eq!(winner, (1, "fast"));
/// # });
/// ```
///
/// # Panics
/// When awaited with no futures at all: there would be no first.
pub fn select<I>(futures: I) -> Select<<I::Item as IntoFuture>::IntoFuture>
where
    I: IntoIterator,
    I::Item: IntoFuture,
{
    Select {
        children: Children::new(futures.into_iter().map(IntoFuture::into_future)),
    }
}

/// The future returned by [`select`].
#[must_use = "futures do nothing unless awaited"]
pub struct Select<F: Future> {
    children: Children<F>,
}

impl<F: Future> Unpin for Select<F> {}

impl<F: Future> Future for Select<F> {
    type Output = (usize, F::Output);

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        assert!(
            self.children.len() > 0,
            "select() needs at least one future to race"
        );
        match self.children.poll_next(cx) {
            Poll::Ready(Some(winner)) => {
                self.children.drop_all();
                Poll::Ready(winner)
            }
            Poll::Ready(None) => panic!("Select polled again after it completed"),
            Poll::Pending => Poll::Pending,
        }
    }
}

impl<F: Future> fmt::Debug for Select<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Select")
            .field("futures", &self.children.len())
            .finish()
    }
}

/// Runs futures of different types concurrently and returns a tuple of their outputs
/// (asyncio's `gather(a(), b(), c())`). Up to 12 futures.
///
/// ```
/// # handloop::run(async {
/// let (n, s) = handloop::gather!(async { 1 }, async { "two" }).await;
/// assert_eq!((n, s), (1, "two"));
/// # });
/// ```
#[macro_export]
macro_rules! gather {
    ($($future:expr),+ $(,)?) => {
        $crate::__private::gather_tuple(($($future,)+))
    };
}

#[doc(hidden)]
pub mod tuple {
    //! The tuple machinery behind `gather!`.

    use std::future::{Future, IntoFuture};
    use std::pin::Pin;
    use std::task::{Context, Poll};

    /// One future of a `gather!`: running, done with its output, or output taken.
    #[derive(Debug)]
    pub enum MaybeDone<F: Future> {
        /// Still running.
        Running(Pin<Box<F>>),
        /// Finished; the output waits for the others.
        Done(F::Output),
        /// The output was handed out.
        Taken,
    }

    // The future is boxed and the output is never pinned.
    impl<F: Future> Unpin for MaybeDone<F> {}

    impl<F: Future> MaybeDone<F> {
        /// Polls if still running; whether it is done.
        pub fn poll_done(&mut self, cx: &mut Context<'_>) -> bool {
            if let MaybeDone::Running(future) = self {
                match future.as_mut().poll(cx) {
                    Poll::Ready(output) => *self = MaybeDone::Done(output),
                    Poll::Pending => return false,
                }
            }
            true
        }

        /// Takes the output of a finished future.
        pub fn take(&mut self) -> F::Output {
            match std::mem::replace(self, MaybeDone::Taken) {
                MaybeDone::Done(output) => output,
                _ => unreachable!("take() before completion"),
            }
        }
    }

    /// A tuple of futures that `gather!` can run together.
    pub trait GatherTuple {
        /// The tuple of outputs.
        type Output;
        /// The tuple of running futures.
        type State: Unpin;
        /// Starts them.
        fn start(self) -> Self::State;
        /// Polls those not done; the outputs once all are.
        fn poll_all(state: &mut Self::State, cx: &mut Context<'_>) -> Poll<Self::Output>;
    }

    macro_rules! impl_gather_tuple {
        ($($F:ident $i:tt),+) => {
            impl<$($F: IntoFuture),+> GatherTuple for ($($F,)+) {
                type Output = ($($F::Output,)+);
                type State = ($(MaybeDone<$F::IntoFuture>,)+);
                fn start(self) -> Self::State {
                    ($(MaybeDone::Running(Box::pin(self.$i.into_future())),)+)
                }
                fn poll_all(state: &mut Self::State, cx: &mut Context<'_>) -> Poll<Self::Output> {
                    let mut all = true;
                    $(all &= state.$i.poll_done(cx);)+
                    if all {
                        Poll::Ready(($(state.$i.take(),)+))
                    } else {
                        Poll::Pending
                    }
                }
            }
        };
    }

    impl_gather_tuple!(A 0);
    impl_gather_tuple!(A 0, B 1);
    impl_gather_tuple!(A 0, B 1, C 2);
    impl_gather_tuple!(A 0, B 1, C 2, D 3);
    impl_gather_tuple!(A 0, B 1, C 2, D 3, E 4);
    impl_gather_tuple!(A 0, B 1, C 2, D 3, E 4, F 5);
    impl_gather_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6);
    impl_gather_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7);
    impl_gather_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8);
    impl_gather_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9);
    impl_gather_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10);
    impl_gather_tuple!(A 0, B 1, C 2, D 3, E 4, F 5, G 6, H 7, I 8, J 9, K 10, L 11);

    /// The future `gather!` returns.
    #[must_use = "futures do nothing unless awaited"]
    pub struct GatherTupleFuture<T: GatherTuple> {
        state: T::State,
    }

    impl<T: GatherTuple> std::fmt::Debug for GatherTupleFuture<T> {
        fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
            f.write_str("GatherTupleFuture")
        }
    }

    impl<T: GatherTuple> Future for GatherTupleFuture<T> {
        type Output = T::Output;
        fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<T::Output> {
            T::poll_all(&mut self.state, cx)
        }
    }

    /// Starts a `gather!`.
    pub fn gather_tuple<T: GatherTuple>(futures: T) -> GatherTupleFuture<T> {
        GatherTupleFuture {
            state: futures.start(),
        }
    }
}
