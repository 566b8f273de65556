"""livecon's realtime hub: one websocket endpoint, rooms, audiences, brokers."""

from __future__ import annotations

from .batching import Batch, Delivery, Outbox, build_frame
from .brokers import Broker, broker_from_url
from .codec import CODECS, Codec, JsonCodec, MsgpackCodec, codec_for
from .connection import Connection, Session, socket_ref
from .endpoint import HubEndpoint
from .errors import AuthError, BrokerError, ProtocolError, RealtimeError
from .hub import Hub, HubSettings
from .messages import MESSAGE_SPECS, ClientMessage, parse_message
from .permissions import ACTIONS_BY_ROLE, AUDIENCE_BY_ROLE, Action, Audience, Role, is_allowed
from .rooms import HandlerFactory, RoomContext, RoomHandler
from .tokens import Claims, TokenSigner

__all__ = [
    "ACTIONS_BY_ROLE",
    "AUDIENCE_BY_ROLE",
    "CODECS",
    "MESSAGE_SPECS",
    "Action",
    "Audience",
    "AuthError",
    "Batch",
    "Broker",
    "BrokerError",
    "Claims",
    "ClientMessage",
    "Codec",
    "Connection",
    "Delivery",
    "HandlerFactory",
    "Hub",
    "HubEndpoint",
    "HubSettings",
    "JsonCodec",
    "MsgpackCodec",
    "Outbox",
    "ProtocolError",
    "RealtimeError",
    "Role",
    "RoomContext",
    "RoomHandler",
    "Session",
    "TokenSigner",
    "broker_from_url",
    "build_frame",
    "codec_for",
    "is_allowed",
    "parse_message",
    "socket_ref",
]
