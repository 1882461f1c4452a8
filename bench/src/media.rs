//! The one media thread: a mio readiness loop over every peer's socket, driving each peer's
//! str0m instance with datagrams and its own deadlines. Every scenario's peers run on it:
//! the echo and fan-out [`Peer`]s, and the AudioBridge's participants.

use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token, Waker};

use crate::peer::Peer;

/// The token of the waker that signals a command.
const WAKE: Token = Token(usize::MAX);
/// Longest sleep without a deadline: the loop also re-checks its commands this often.
const IDLE: Duration = Duration::from_millis(50);

/// What the media loop asks of a peer.
pub trait LoopPeer: Send + 'static {
    /// Its socket, registered with the loop's poll.
    fn socket_mut(&mut self) -> &mut mio::net::UdpSocket;
    /// Still connected and not failed.
    fn is_alive(&self) -> bool;
    /// When it next wants [`Self::tick`].
    fn deadline(&self) -> Instant;
    /// Sends what is due and advances its timers.
    fn tick(&mut self, now: Instant);
    /// Reads what its socket holds, with `buf` as scratch.
    fn receive(&mut self, buf: &mut [u8]);
    /// Stops sending; keeps receiving.
    fn stop_sending(&mut self);
}

impl LoopPeer for Peer {
    fn socket_mut(&mut self) -> &mut mio::net::UdpSocket {
        Peer::socket_mut(self)
    }
    fn is_alive(&self) -> bool {
        Peer::is_alive(self)
    }
    fn deadline(&self) -> Instant {
        Peer::deadline(self)
    }
    fn tick(&mut self, now: Instant) {
        Peer::tick(self, now);
    }
    fn receive(&mut self, buf: &mut [u8]) {
        Peer::receive(self, buf);
    }
    fn stop_sending(&mut self) {
        Peer::stop_sending(self);
    }
}

/// What the scenario tells the media thread.
pub enum Command<P = Peer> {
    /// A negotiated peer joins the loop.
    Adopt(Box<P>),
    /// Stop scheduling packets; keep receiving echoes.
    StopSending,
    /// Return every peer and end the thread.
    Finish,
}

/// The way in to the media thread; cheap to clone into the signalling threads.
pub struct MediaDoor<P = Peer> {
    waker: Arc<Waker>,
    commands: Sender<Command<P>>,
}

impl<P> Clone for MediaDoor<P> {
    fn clone(&self) -> Self {
        Self {
            waker: Arc::clone(&self.waker),
            commands: self.commands.clone(),
        }
    }
}

impl<P> MediaDoor<P> {
    /// Sends a command and wakes the loop. False if the thread is gone.
    pub fn send(&self, command: Command<P>) -> bool {
        self.commands.send(command).is_ok() && self.waker.wake().is_ok()
    }
}

/// The handle the scenario keeps on the media thread.
pub struct MediaThread<P = Peer> {
    door: MediaDoor<P>,
    join: std::thread::JoinHandle<std::io::Result<Vec<P>>>,
}

impl<P: LoopPeer> MediaThread<P> {
    /// Starts the loop. `hard_stop` is a last-resort bound: past it the thread ends on its
    /// own even if `Finish` never comes.
    pub fn spawn(hard_stop: Instant) -> std::io::Result<MediaThread<P>> {
        let poll = Poll::new()?;
        let waker = Arc::new(Waker::new(poll.registry(), WAKE)?);
        let (tx, rx) = std::sync::mpsc::channel();
        let join = std::thread::Builder::new()
            .name("media".into())
            .spawn(move || run(poll, rx, hard_stop))?;
        Ok(MediaThread {
            door: MediaDoor {
                waker,
                commands: tx,
            },
            join,
        })
    }

    pub fn door(&self) -> MediaDoor<P> {
        self.door.clone()
    }

    /// Ends the loop and takes the peers back.
    pub fn finish(self) -> std::io::Result<Vec<P>> {
        self.door.send(Command::Finish);
        self.join
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the media thread panicked")))
    }
}

fn run<P: LoopPeer>(
    mut poll: Poll,
    commands: Receiver<Command<P>>,
    hard_stop: Instant,
) -> std::io::Result<Vec<P>> {
    let mut peers: Vec<P> = Vec::new();
    let mut events = Events::with_capacity(1024);
    let mut buf = vec![0u8; 2048];
    loop {
        let now = Instant::now();
        if now >= hard_stop {
            return Ok(peers);
        }
        let mut deadline = (now + IDLE).min(hard_stop);
        for peer in &mut peers {
            if peer.deadline() <= now {
                peer.tick(now);
            }
            if peer.is_alive() {
                deadline = deadline.min(peer.deadline());
            }
        }
        let wait = deadline.saturating_duration_since(Instant::now());
        match poll.poll(&mut events, Some(wait)) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(e),
        }
        for event in events.iter() {
            if event.token() == WAKE {
                continue;
            }
            if let Some(peer) = peers.get_mut(event.token().0) {
                peer.receive(&mut buf);
            }
        }
        // Commands are few; checking every pass keeps the waker token free of bookkeeping.
        loop {
            match commands.try_recv() {
                Ok(Command::Adopt(mut peer)) => {
                    let token = Token(peers.len());
                    poll.registry()
                        .register(peer.socket_mut(), token, Interest::READABLE)?;
                    // Start ICE now: the first tick sends the connectivity checks.
                    peer.tick(Instant::now());
                    peers.push(*peer);
                }
                Ok(Command::StopSending) => peers.iter_mut().for_each(P::stop_sending),
                Ok(Command::Finish) | Err(TryRecvError::Disconnected) => return Ok(peers),
                Err(TryRecvError::Empty) => break,
            }
        }
    }
}
