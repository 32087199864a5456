//! TCP and UDP sockets on the loop's poller (asyncio's streams and datagram endpoints).

mod tcp;
mod udp;

pub use tcp::{TcpListener, TcpStream};
pub use udp::UdpSocket;
