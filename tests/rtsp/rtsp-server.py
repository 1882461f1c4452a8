#!/usr/bin/python3
"""An RTSP server for the Streaming tests: GStreamer's RTSP server library (Debian packages
gir1.2-gst-rtsp-server-1.0, gstreamer1.0-plugins-base and -good, python3-gi) serving a VP8
test pattern and an opus tone at rtsp://127.0.0.1:PORT/test, optionally behind basic
authentication, and optionally over UDP only (a TCP-interleaved SETUP gets 461 Unsupported
Transport, as from cameras that take only UDP). Prints "ready" once it listens.

Usage: rtsp-server.py [--udp-only] PORT [USER PASSWORD]
"""
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
gi.require_version("GstRtsp", "1.0")
from gi.repository import GLib, Gst, GstRtsp, GstRtspServer  # noqa: E402

PIPELINE = (
    "( videotestsrc is-live=true ! video/x-raw,width=320,height=240,framerate=15/1"
    " ! vp8enc deadline=1 keyframe-max-dist=30 ! rtpvp8pay pt=96 name=pay0"
    " audiotestsrc is-live=true freq=440 ! audioconvert ! audioresample ! opusenc"
    " ! rtpopuspay pt=97 name=pay1 )"
)


def main():
    Gst.init(None)
    args = sys.argv[1:]
    udp_only = bool(args) and args[0] == "--udp-only"
    if udp_only:
        args = args[1:]
    port = args[0]
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(port)
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(PIPELINE)
    factory.set_shared(True)
    if udp_only:
        factory.set_protocols(GstRtsp.RTSPLowerTrans.UDP)
    if len(args) >= 3:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "viewer")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args[1], args[2]), token)
        server.set_auth(auth)
        factory.add_role_from_structure(
            Gst.Structure.from_string(
                "viewer, media.factory.access=(boolean)true, media.factory.construct=(boolean)true"
            )[0]
        )
    server.get_mount_points().add_factory("/test", factory)
    if server.attach(None) == 0:
        print("cannot listen on port " + port, flush=True)
        sys.exit(1)
    print("ready", flush=True)
    GLib.MainLoop().run()


if __name__ == "__main__":
    main()
