//! The one media thread: a mio readiness loop over every peer's socket, driving each peer's
//! str0m instance with datagrams and its own deadlines.

use std::sync::mpsc::{Receiver, Sender, TryRecvError};
use std::sync::Arc;
use std::time::{Duration, Instant};

use mio::{Events, Interest, Poll, Token, Waker};

use crate::peer::Peer;

/// The token of the waker that signals a command.
const WAKE: Token = Token(usize::MAX);
/// Longest sleep without a deadline: the loop also re-checks its commands this often.
const IDLE: Duration = Duration::from_millis(50);

/// What the scenario tells the media thread.
pub enum Command {
    /// A negotiated peer joins the loop.
    Adopt(Box<Peer>),
    /// Stop scheduling packets; keep receiving echoes.
    StopSending,
    /// Return every peer and end the thread.
    Finish,
}

/// The way in to the media thread; cheap to clone into the signalling threads.
#[derive(Clone)]
pub struct MediaDoor {
    waker: Arc<Waker>,
    commands: Sender<Command>,
}

impl MediaDoor {
    /// Sends a command and wakes the loop. False if the thread is gone.
    pub fn send(&self, command: Command) -> bool {
        self.commands.send(command).is_ok() && self.waker.wake().is_ok()
    }
}

/// The handle the scenario keeps on the media thread.
pub struct MediaThread {
    door: MediaDoor,
    join: std::thread::JoinHandle<std::io::Result<Vec<Peer>>>,
}

impl MediaThread {
    /// Starts the loop. `hard_stop` is a last-resort bound: past it the thread ends on its
    /// own even if `Finish` never comes.
    pub fn spawn(hard_stop: Instant) -> std::io::Result<MediaThread> {
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

    pub fn door(&self) -> MediaDoor {
        self.door.clone()
    }

    /// Ends the loop and takes the peers back.
    pub fn finish(self) -> std::io::Result<Vec<Peer>> {
        self.door.send(Command::Finish);
        self.join
            .join()
            .unwrap_or_else(|_| Err(std::io::Error::other("the media thread panicked")))
    }
}

fn run(
    mut poll: Poll,
    commands: Receiver<Command>,
    hard_stop: Instant,
) -> std::io::Result<Vec<Peer>> {
    let mut peers: Vec<Peer> = Vec::new();
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
                Ok(Command::StopSending) => peers.iter_mut().for_each(Peer::stop_sending),
                Ok(Command::Finish) | Err(TryRecvError::Disconnected) => return Ok(peers),
                Err(TryRecvError::Empty) => break,
            }
        }
    }
}
