"""The OpenAPI 3.1 description of livecon's HTTP API, served at ``/openapi.json``."""

from __future__ import annotations

from typing import Any, Final

__all__ = ["OPENAPI"]

_ROOM: Final = {
    "name": "room",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^[A-Za-z0-9_.:-]{1,64}$"},
}
_CHANNEL: Final = {
    "name": "channel",
    "in": "path",
    "required": True,
    "schema": {"type": "string", "pattern": "^(rehearsal:)?[A-Za-z0-9_.-]{1,64}$"},
}
_ERROR: Final = {
    "description": "refused, with a message",
    "content": {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}},
}
_JSON_OK: Final = {
    "description": "ok",
    "content": {"application/json": {"schema": {"type": "object"}}},
}
_ADMIN: Final[list[dict[str, list[str]]]] = [{"admin": []}]


def _answers(*codes: int, ok: dict[str, Any] = _JSON_OK) -> dict[str, Any]:
    return {"200": ok, **{str(code): _ERROR for code in codes}}


def _format(*names: str) -> dict[str, Any]:
    return {
        "name": "format",
        "in": "query",
        "required": False,
        "schema": {"type": "string", "enum": list(names)},
    }


OPENAPI: Final[dict[str, Any]] = {
    "openapi": "3.1.0",
    "info": {
        "title": "livecon",
        "version": "1",
        "description": "HTTP API of the livecon console. The websocket hub is "
        "described in docs/protocol.md.",
    },
    "components": {
        "securitySchemes": {
            "admin": {"type": "http", "scheme": "bearer", "description": "the admin key"},
            "ingest": {"type": "apiKey", "in": "header", "name": "X-Livecon-Ingest-Key"},
        },
        "schemas": {
            "Error": {
                "type": "object",
                "required": ["error"],
                "properties": {"error": {"type": "string"}},
            },
            "TokenRequest": {
                "type": "object",
                "required": ["room", "role", "user"],
                "properties": {
                    "room": {"type": "string"},
                    "user": {"type": "string"},
                    "role": {
                        "type": "string",
                        "enum": ["viewer", "host", "controller", "support", "admin"],
                    },
                    "name": {"type": "string", "maxLength": 64},
                    "ttl_s": {"type": "number", "exclusiveMinimum": 0, "maximum": 604800},
                },
            },
            "Revoke": {
                "type": "object",
                "required": ["token_id"],
                "properties": {"token_id": {"type": "string"}, "expires_at": {"type": "number"}},
            },
            "Ingest": {
                "type": "object",
                "required": ["platform", "comments"],
                "properties": {
                    "platform": {"type": "string", "pattern": "^[a-z0-9_-]{1,20}$"},
                    "comments": {
                        "type": "array",
                        "minItems": 1,
                        "maxItems": 500,
                        "items": {
                            "type": "object",
                            "required": ["id", "user", "text"],
                            "properties": {
                                "id": {"type": ["string", "integer"]},
                                "user": {"type": "string"},
                                "name": {"type": "string"},
                                "text": {"type": "string"},
                            },
                        },
                    },
                },
            },
            "Policy": {
                "type": "object",
                "properties": {
                    "banned": {
                        "type": "object",
                        "additionalProperties": {
                            "type": "string",
                            "enum": ["publish", "hide", "hold", "mute"],
                        },
                    },
                    "patterns": {"type": "array", "items": {"type": "array"}},
                    "slow_mode_s": {"type": "number"},
                    "max_chars": {"type": "integer"},
                    "per_minute": {"type": "integer"},
                    "mute_s": {"type": "number"},
                },
            },
        },
    },
    "paths": {
        "/healthz": {
            "get": {
                "summary": "health; 503 when degraded",
                "responses": {"200": _JSON_OK, "503": _JSON_OK},
            }
        },
        "/metrics": {
            "get": {
                "summary": "Prometheus text",
                "responses": {"200": {"description": "ok", "content": {"text/plain": {}}}},
            }
        },
        "/api/tokens": {
            "post": {
                "summary": "mint a token",
                "security": _ADMIN,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {"$ref": "#/components/schemas/TokenRequest"}
                        }
                    },
                },
                "responses": _answers(400, 401),
            }
        },
        "/api/tokens/revoke": {
            "post": {
                "summary": "revoke a token; its sockets close at once",
                "security": _ADMIN,
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Revoke"}}
                    },
                },
                "responses": _answers(400, 401),
            }
        },
        "/api/rooms/{room}/script": {
            "put": {
                "summary": "load a show script (TOML)",
                "security": _ADMIN,
                "parameters": [_ROOM],
                "requestBody": {
                    "required": True,
                    "content": {"text/plain": {"schema": {"type": "string"}}},
                },
                "responses": _answers(400, 401, 409, 413),
            }
        },
        "/api/rooms/{room}/audit": {
            "get": {
                "summary": "the audit log",
                "security": _ADMIN,
                "parameters": [
                    _ROOM,
                    _format("json", "csv"),
                    {"name": "after", "in": "query", "schema": {"type": "integer"}},
                    {"name": "limit", "in": "query", "schema": {"type": "integer"}},
                ],
                "responses": _answers(400, 401),
            }
        },
        "/api/rooms/{room}/orders": {
            "get": {
                "summary": "every order of the room",
                "security": _ADMIN,
                "parameters": [_ROOM, _format("json", "csv")],
                "responses": _answers(400, 401, 403),
            }
        },
        "/api/rooms/{room}/moderation": {
            "get": {
                "summary": "the comment policy",
                "security": _ADMIN,
                "parameters": [_ROOM],
                "responses": _answers(400, 401),
            },
            "put": {
                "summary": "set the comment policy",
                "security": _ADMIN,
                "parameters": [_ROOM],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Policy"}}
                    },
                },
                "responses": _answers(400, 401),
            },
        },
        "/api/rooms/{room}/ingest": {
            "post": {
                "summary": "comments from another platform",
                "security": [{"ingest": []}],
                "parameters": [_ROOM],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {"schema": {"$ref": "#/components/schemas/Ingest"}}
                    },
                },
                "responses": _answers(400, 401),
            }
        },
        "/api/rooms/{room}/reminders": {
            "post": {
                "summary": "a viewer's remind-me for the room's show (warm-up page, no auth)",
                "security": [],
                "parameters": [_ROOM],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "additionalProperties": False,
                                "properties": {
                                    "viewer": {"type": "string", "maxLength": 64},
                                    "name": {"type": "string", "maxLength": 64},
                                    "contact": {"type": "string", "maxLength": 128},
                                    "consent": {"type": "boolean"},
                                },
                            }
                        }
                    },
                },
                "responses": {**_answers(400, 404, 413, 429), "201": _JSON_OK},
            },
            "get": {
                "summary": "the room's reminders",
                "security": _ADMIN,
                "parameters": [_ROOM, _format("json", "csv", "ics")],
                "responses": _answers(400, 401, 404),
            },
        },
        "/api/rooms/{room}/fans": {
            "get": {
                "summary": "the show's viewers with their fan tier (new or returning)",
                "security": _ADMIN,
                "parameters": [_ROOM, _format("json", "csv")],
                "responses": _answers(400, 401),
            }
        },
        "/api/channels/{channel}/fans": {
            "get": {
                "summary": "how many fans the channel knows",
                "security": _ADMIN,
                "parameters": [_CHANNEL],
                "responses": _answers(400, 401),
            },
            "post": {
                "summary": "import known fans (returning from their next visit on)",
                "security": _ADMIN,
                "parameters": [_CHANNEL],
                "requestBody": {
                    "required": True,
                    "content": {
                        "application/json": {
                            "schema": {
                                "type": "object",
                                "required": ["users"],
                                "properties": {
                                    "users": {
                                        "type": "array",
                                        "maxItems": 100_000,
                                        "items": {"type": "string", "maxLength": 64},
                                    }
                                },
                            }
                        },
                        "text/csv": {"schema": {"type": "string"}},
                    },
                },
                "responses": _answers(400, 401, 413),
            },
        },
        "/api/rooms/{room}/ingest-key": {
            "get": {
                "summary": "the room's ingest key",
                "security": _ADMIN,
                "parameters": [_ROOM],
                "responses": _answers(400, 401),
            }
        },
        "/api/rooms/{room}/reconcile": {
            "get": {
                "summary": "reconciliation",
                "security": _ADMIN,
                "parameters": [_ROOM],
                "responses": _answers(400, 401),
            },
            "post": {
                "summary": "reconcile now",
                "security": _ADMIN,
                "parameters": [_ROOM],
                "responses": _answers(400, 401),
            },
        },
        "/api/rooms/{room}/report": {
            "get": {
                "summary": "the post-show report",
                "security": _ADMIN,
                "parameters": [_ROOM, _format("json", "csv")],
                "responses": _answers(400, 401, 403),
            }
        },
        "/api/rooms/{room}/chapters.{format}": {
            "get": {
                "summary": "replay chapters",
                "security": _ADMIN,
                "parameters": [
                    _ROOM,
                    {
                        "name": "format",
                        "in": "path",
                        "required": True,
                        "schema": {"type": "string", "enum": ["vtt", "json"]},
                    },
                ],
                "responses": _answers(400, 401, 403, 404),
            }
        },
    },
}
