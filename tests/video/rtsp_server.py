#!/usr/bin/python3
"""A camera for the end-to-end tests: GStreamer's RTSP server plays an MPEG-TS H.264 file, in real
time, to each client at rtsp://127.0.0.1:PORT/cam (optionally behind basic authentication).

    rtsp_server.py --port 8554 --file clip.ts [--user U --password P]

Each client gets its own playback from the start of the file. At the end of the file the session
ends, as a camera that goes away. Prints "ready" once it listens; runs until killed.
"""
import argparse
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--file", required=True, help="an MPEG-TS file with an H.264 video stream")
    parser.add_argument("--path", default="/cam")
    parser.add_argument("--user")
    parser.add_argument("--password")
    args = parser.parse_args()

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    # tsdemux + h264parse: qtdemux on an FFmpeg-made mp4 gave "no known streams found", and
    # config-interval=-1 repeats SPS/PPS so a client can start at any key frame.
    factory.set_launch(
        "( filesrc location={} ! tsdemux ! h264parse config-interval=-1 ! rtph264pay name=pay0 pt=96 )".format(
            args.file))
    factory.set_shared(False)
    if args.user:
        auth = GstRtspServer.RTSPAuth()
        token = GstRtspServer.RTSPToken()
        token.set_string(GstRtspServer.RTSP_TOKEN_MEDIA_FACTORY_ROLE, "camera-user")
        auth.add_basic(GstRtspServer.RTSPAuth.make_basic(args.user, args.password), token)
        server.set_auth(auth)
        permissions = GstRtspServer.RTSPPermissions()
        permissions.add_role_from_structure(Gst.Structure.new_empty("camera-user"))
        permissions.add_permission_for_role("camera-user", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_ACCESS, True)
        permissions.add_permission_for_role("camera-user", GstRtspServer.RTSP_PERM_MEDIA_FACTORY_CONSTRUCT, True)
        factory.set_permissions(permissions)
    server.get_mount_points().add_factory(args.path, factory)
    if server.attach(None) == 0:
        print("cannot listen on port {}".format(args.port), file=sys.stderr)
        return 1
    print("ready", flush=True)
    GLib.MainLoop().run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
