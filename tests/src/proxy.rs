//! A TCP proxy for one directed link between two nodes, owned by a test.
//!
//! Node A is told that node B lives at the proxy's address; the proxy forwards
//! to B's real address. The test can then, at any time:
//! * [`Proxy::cut`]: reset every connection and refuse new ones (a crashed
//!   link; the sender sees errors);
//! * [`Proxy::blackhole`]: keep connections open but forward nothing (a
//!   partition where packets vanish; the sender sees nothing);
//! * [`Proxy::delay`]: forward everything, late;
//! * [`Proxy::heal`]: forward normally again.
//!
//! The target can be changed ([`Proxy::set_target`]) when B restarts on a new
//! port. Dropping the proxy stops it and all its connections.

use parking_lot::Mutex;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;
use tokio::task::JoinHandle;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    Open,
    Cut,
    Blackhole,
    Delay(Duration),
}

pub struct Proxy {
    addr: SocketAddr,
    target: Arc<Mutex<SocketAddr>>,
    mode: watch::Sender<Mode>,
    task: JoinHandle<()>,
}

impl Proxy {
    /// Starts a proxy on an ephemeral loopback port, forwarding to `target`.
    pub async fn start(target: SocketAddr) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let target = Arc::new(Mutex::new(target));
        let (mode, mode_rx) = watch::channel(Mode::Open);
        let task = tokio::spawn(accept_loop(listener, target.clone(), mode_rx));
        Ok(Proxy { addr, target, mode, task })
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn set_target(&self, target: SocketAddr) {
        *self.target.lock() = target;
    }

    pub fn cut(&self) {
        self.mode.send_replace(Mode::Cut);
    }

    pub fn blackhole(&self) {
        self.mode.send_replace(Mode::Blackhole);
    }

    pub fn delay(&self, d: Duration) {
        self.mode.send_replace(Mode::Delay(d));
    }

    pub fn heal(&self) {
        self.mode.send_replace(Mode::Open);
    }

    pub fn mode(&self) -> Mode {
        *self.mode.borrow()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn accept_loop(listener: TcpListener, target: Arc<Mutex<SocketAddr>>, mode: watch::Receiver<Mode>) {
    let mut conns = tokio::task::JoinSet::new();
    loop {
        tokio::select! {
            accepted = listener.accept() => {
                let Ok((inbound, _)) = accepted else { continue };
                if *mode.borrow() == Mode::Cut {
                    drop(inbound);
                    continue;
                }
                let to = *target.lock();
                conns.spawn(serve(inbound, to, mode.clone()));
            }
            Some(_) = conns.join_next(), if !conns.is_empty() => {}
        }
    }
}

/// Relays one connection in both directions until either side closes or the
/// link is cut.
async fn serve(inbound: TcpStream, to: SocketAddr, mode: watch::Receiver<Mode>) {
    let Ok(outbound) = TcpStream::connect(to).await else {
        return;
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let (ir, iw) = inbound.into_split();
    let (or, ow) = outbound.into_split();
    tokio::select! {
        _ = pump(ir, ow, mode.clone()) => {}
        _ = pump(or, iw, mode.clone()) => {}
        _ = wait_cut(mode) => {}
    }
    // Dropping both halves closes both connections.
}

async fn wait_cut(mut mode: watch::Receiver<Mode>) {
    loop {
        if *mode.borrow_and_update() == Mode::Cut {
            return;
        }
        if mode.changed().await.is_err() {
            return;
        }
    }
}

async fn pump(
    mut from: tokio::net::tcp::OwnedReadHalf,
    mut to: tokio::net::tcp::OwnedWriteHalf,
    mode: watch::Receiver<Mode>,
) {
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => return,
            Ok(n) => n,
        };
        let m = *mode.borrow();
        match m {
            Mode::Open => {}
            Mode::Cut => return,
            Mode::Blackhole => continue,
            Mode::Delay(d) => tokio::time::sleep(d).await,
        }
        if to.write_all(&buf[..n]).await.is_err() {
            return;
        }
    }
}
