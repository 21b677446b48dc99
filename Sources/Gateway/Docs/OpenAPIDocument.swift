/// The OpenAPI 3.1 document of the public API (served at `GET /openapi.json`): the single source
/// of the contract's machine-readable form. `APIDocumentTests` fails when a route exists that it
/// does not list, or it lists one that does not exist; `tests/conformance.sh` checks the running
/// system against it with schemathesis.
///
/// JSON kept in a raw string literal rather than a SwiftPM resource: an embedded resource
/// becomes an array literal of its bytes, which takes the compiler tens of seconds for this size.
public enum OpenAPIDocument {
    public static let json = #"""
{
  "openapi": "3.1.0",
  "info": {
    "title": "Marquee",
    "version": "1.0.0",
    "summary": "A movie watchlist backend: users, a cached movie catalogue and watchlists, behind one gateway.",
    "description": "Everything goes through the gateway, over HTTP/1.1 or HTTP/2 (`h2` by ALPN on HTTPS, h2c with prior knowledge on HTTP); the routes and answers are the same. Errors are FastAPI's shape: `{\"detail\": \"...\"}`, and 422 as a list of issues with `loc`. Every response carries `X-Request-ID`. A request may carry a W3C Trace Context `traceparent` (`00-<32 hex digits: trace id>-<16: parent id>-<2: flags>`, lower case): a valid one is continued by the gateway and every service it reaches (with its `tracestate`), anything else is replaced by a new trace; the trace id is in every log line the request causes. A method a path does not serve is answered 405 with `Allow`, and `HEAD` is served wherever `GET` is. Lists take `limit`/`offset` and carry `X-Total-Count`.\n\nAuthentication: `POST /api/auth/login` gives an HS256 bearer token. With `AUTH_REQUIRED=false` (the local default) a token is optional, but one that is sent is verified and limits the caller to their own data; with `AUTH_REQUIRED=true` writes and per-user reads need one.\n\nLimits every route shares: the gateway's rate limit per client address (429 with `Retry-After`), its body limit (413, `MAX_BODY_SIZE`, 1 MiB by default), its queue per service (503 with `Retry-After: 1`), and a deadline on every database query (`DB_QUERY_TIMEOUT`, 1 s: 503 `Database unavailable` or 504 `Database timeout`, never a hang). The parser's own limits (request line, header size and count) answer 414/431 with `Connection: close`.\n\nThe contract in prose: docs/API.md.",
    "license": {
      "name": "Proprietary",
      "identifier": "LicenseRef-Proprietary"
    }
  },
  "servers": [
    {
      "url": "/",
      "description": "This gateway"
    }
  ],
  "tags": [
    {
      "name": "users",
      "description": "Sign-up and user records (user service)."
    },
    {
      "name": "auth",
      "description": "Login and the caller's identity (user service)."
    },
    {
      "name": "movies",
      "description": "The movie catalogue, cached in Redis (movie service)."
    },
    {
      "name": "watchlist",
      "description": "Users' watchlists (watchlist service)."
    },
    {
      "name": "health",
      "description": "Each service's health, through the gateway."
    },
    {
      "name": "gateway",
      "description": "What the gateway answers itself."
    }
  ],
  "paths": {
    "/": {
      "get": {
        "operationId": "gatewayInfo",
        "tags": [
          "gateway"
        ],
        "summary": "The gateway's own description",
        "security": [],
        "responses": {
          "200": {
            "description": "The gateway and the routes it serves.",
            "headers": {
              "X-Request-ID": {
                "$ref": "#/components/headers/X-Request-ID"
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/GatewayInfo"
                },
                "example": {
                  "service": "api-gateway",
                  "status": "ok",
                  "routes": [
                    "/api/users",
                    "/api/auth",
                    "/api/movies",
                    "/api/watchlist",
                    "/api/health/users",
                    "/api/health/movies",
                    "/api/health/watchlist"
                  ]
                }
              }
            }
          },
          "429": {
            "$ref": "#/components/responses/TooManyRequests"
          }
        }
      }
    },
    "/health": {
      "get": {
        "operationId": "gatewayHealth",
        "tags": [
          "gateway"
        ],
        "summary": "The gateway's own liveness",
        "security": [],
        "responses": {
          "200": {
            "description": "The gateway is up (answered even over plain HTTP in every HTTP_MODE).",
            "headers": {
              "X-Request-ID": {
                "$ref": "#/components/headers/X-Request-ID"
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/GatewayHealth"
                },
                "example": {
                  "status": "ok",
                  "service": "api-gateway"
                }
              }
            }
          }
        }
      }
    },
    "/openapi.json": {
      "get": {
        "operationId": "openAPIDocument",
        "tags": [
          "gateway"
        ],
        "summary": "This document",
        "parameters": [
          {
            "name": "If-None-Match",
            "in": "header",
            "required": false,
            "schema": {
              "type": "string"
            }
          }
        ],
        "security": [],
        "responses": {
          "200": {
            "description": "The OpenAPI 3.1 document of the API behind the gateway.",
            "headers": {
              "X-Request-ID": {
                "$ref": "#/components/headers/X-Request-ID"
              },
              "ETag": {
                "description": "Validator of the document.",
                "required": true,
                "schema": {
                  "type": "string"
                }
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "type": "object",
                  "required": [
                    "openapi",
                    "paths"
                  ]
                }
              }
            }
          },
          "304": {
            "description": "Not modified (`If-None-Match` named the current ETag).",
            "headers": {
              "X-Request-ID": {
                "$ref": "#/components/headers/X-Request-ID"
              }
            }
          },
          "429": {
            "$ref": "#/components/responses/TooManyRequests"
          }
        }
      }
    },
    "/docs": {
      "get": {
        "operationId": "apiDocsPage",
        "tags": [
          "gateway"
        ],
        "summary": "Interactive API documentation (Swagger UI)",
        "parameters": [
          {
            "name": "If-None-Match",
            "in": "header",
            "required": false,
            "schema": {
              "type": "string"
            }
          }
        ],
        "security": [],
        "responses": {
          "200": {
            "description": "The Swagger UI page for this document. Its assets are served by the gateway itself (never a CDN), under a Content-Security-Policy that allows only them.",
            "headers": {
              "X-Request-ID": {
                "$ref": "#/components/headers/X-Request-ID"
              },
              "Content-Security-Policy": {
                "required": true,
                "schema": {
                  "type": "string"
                }
              }
            },
            "content": {
              "text/html": {
                "schema": {
                  "type": "string"
                }
              }
            }
          },
          "304": {
            "description": "Not modified.",
            "headers": {
              "X-Request-ID": {
                "$ref": "#/components/headers/X-Request-ID"
              }
            }
          },
          "429": {
            "$ref": "#/components/responses/TooManyRequests"
          },
          "503": {
            "description": "The Swagger UI assets are not installed where `DOCS_ASSETS_DIR` points.",
            "headers": {
              "X-Request-ID": {
                "$ref": "#/components/headers/X-Request-ID"
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/HTTPError"
                },
                "example": {
                  "detail": "API docs are not available: Swagger UI assets not found"
                }
              }
            }
          }
        }
      }
    },
    "/docs/{asset}": {
      "get": {
        "operationId": "apiDocsAsset",
        "tags": [
          "gateway"
        ],
        "summary": "A static asset of the documentation page",
        "parameters": [
          {
            "name": "asset",
            "in": "path",
            "required": true,
            "schema": {
              "type": "string",
              "enum": [
                "swagger-ui.css",
                "swagger-ui-bundle.js",
                "docs.js",
                "favicon-32x32.png"
              ]
            }
          },
          {
            "name": "If-None-Match",
            "in": "header",
            "required": false,
            "schema": {
              "type": "string"
            }
          }
        ],
        "security": [],
        "responses": {
          "200": {
            "description": "The asset, with a strong ETag and `Cache-Control`.",
            "headers": {
              "X-Request-ID": {
                "$ref": "#/components/headers/X-Request-ID"
              },
              "ETag": {
                "required": true,
                "schema": {
                  "type": "string"
                }
              },
              "Cache-Control": {
                "required": true,
                "schema": {
                  "type": "string"
                }
              }
            },
            "content": {
              "text/javascript": {
                "schema": {
                  "type": "string"
                }
              },
              "text/css": {
                "schema": {
                  "type": "string"
                }
              },
              "image/png": {
                "schema": {
                  "type": "string",
                  "contentMediaType": "image/png"
                }
              }
            }
          },
          "304": {
            "description": "Not modified.",
            "headers": {
              "X-Request-ID": {
                "$ref": "#/components/headers/X-Request-ID"
              }
            }
          },
          "404": {
            "description": "Not one of the page's assets.",
            "headers": {
              "X-Request-ID": {
                "$ref": "#/components/headers/X-Request-ID"
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/HTTPError"
                },
                "example": {
                  "detail": "Not Found"
                }
              }
            }
          },
          "429": {
            "$ref": "#/components/responses/TooManyRequests"
          },
          "503": {
            "description": "The Swagger UI assets are not installed where `DOCS_ASSETS_DIR` points.",
            "headers": {
              "X-Request-ID": {
                "$ref": "#/components/headers/X-Request-ID"
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/HTTPError"
                },
                "example": {
                  "detail": "API docs are not available: Swagger UI assets not found"
                }
              }
            }
          }
        }
      }
    },
    "/api/health/users": {
      "get": {
        "operationId": "healthUsers",
        "tags": [
          "health"
        ],
        "summary": "Health of the user service",
        "description": "Proxied to the user service's `/health`. 502/504, and 503 with `Retry-After` and an `HTTPError` body, come from the gateway when the service itself cannot be reached or is too busy; a bearer token, needed by none, is still verified when sent (401 when invalid).",
        "security": [],
        "responses": {
          "200": {
            "description": "Healthy: every required check passed.",
            "headers": {
              "X-Request-ID": {
                "$ref": "#/components/headers/X-Request-ID"
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Health"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "429": {
            "$ref": "#/components/responses/TooManyRequests"
          },
          "502": {
            "$ref": "#/components/responses/BadGateway"
          },
          "503": {
            "description": "Unhealthy: a required check failed (the failing one is `down`, a `Health` body); or the gateway's queue for the service is full (an `HTTPError` body, `Retry-After: 1`).",
            "headers": {
              "X-Request-ID": {
                "$ref": "#/components/headers/X-Request-ID"
              },
              "Retry-After": {
                "description": "Seconds to wait before trying again: `1` when the cause is load (the gateway's queue for the service, or the user service's password checks); absent when a dependency is down.",
                "required": false,
                "schema": {
                  "type": "integer",
                  "minimum": 1
                }
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "oneOf": [
                    {
                      "$ref": "#/components/schemas/Health"
                    },
                    {
                      "$ref": "#/components/schemas/HTTPError"
                    }
                  ]
                }
              }
            }
          },
          "504": {
            "$ref": "#/components/responses/GatewayTimeout"
          }
        }
      }
    },
    "/api/health/movies": {
      "get": {
        "operationId": "healthMovies",
        "tags": [
          "health"
        ],
        "summary": "Health of the movie service",
        "description": "Proxied to the movie service's `/health`. 502/504, and 503 with `Retry-After` and an `HTTPError` body, come from the gateway when the service itself cannot be reached or is too busy; a bearer token, needed by none, is still verified when sent (401 when invalid).",
        "security": [],
        "responses": {
          "200": {
            "description": "Healthy: every required check passed.",
            "headers": {
              "X-Request-ID": {
                "$ref": "#/components/headers/X-Request-ID"
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Health"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "429": {
            "$ref": "#/components/responses/TooManyRequests"
          },
          "502": {
            "$ref": "#/components/responses/BadGateway"
          },
          "503": {
            "description": "Unhealthy: a required check failed (the failing one is `down`, a `Health` body); or the gateway's queue for the service is full (an `HTTPError` body, `Retry-After: 1`).",
            "headers": {
              "X-Request-ID": {
                "$ref": "#/components/headers/X-Request-ID"
              },
              "Retry-After": {
                "description": "Seconds to wait before trying again: `1` when the cause is load (the gateway's queue for the service, or the user service's password checks); absent when a dependency is down.",
                "required": false,
                "schema": {
                  "type": "integer",
                  "minimum": 1
                }
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "oneOf": [
                    {
                      "$ref": "#/components/schemas/Health"
                    },
                    {
                      "$ref": "#/components/schemas/HTTPError"
                    }
                  ]
                }
              }
            }
          },
          "504": {
            "$ref": "#/components/responses/GatewayTimeout"
          }
        }
      }
    },
    "/api/health/watchlist": {
      "get": {
        "operationId": "healthWatchlist",
        "tags": [
          "health"
        ],
        "summary": "Health of the watchlist service",
        "description": "Proxied to the watchlist service's `/health`. 502/504, and 503 with `Retry-After` and an `HTTPError` body, come from the gateway when the service itself cannot be reached or is too busy; a bearer token, needed by none, is still verified when sent (401 when invalid).",
        "security": [],
        "responses": {
          "200": {
            "description": "Healthy: every required check passed.",
            "headers": {
              "X-Request-ID": {
                "$ref": "#/components/headers/X-Request-ID"
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Health"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "429": {
            "$ref": "#/components/responses/TooManyRequests"
          },
          "502": {
            "$ref": "#/components/responses/BadGateway"
          },
          "503": {
            "description": "Unhealthy: a required check failed (the failing one is `down`, a `Health` body); or the gateway's queue for the service is full (an `HTTPError` body, `Retry-After: 1`).",
            "headers": {
              "X-Request-ID": {
                "$ref": "#/components/headers/X-Request-ID"
              },
              "Retry-After": {
                "description": "Seconds to wait before trying again: `1` when the cause is load (the gateway's queue for the service, or the user service's password checks); absent when a dependency is down.",
                "required": false,
                "schema": {
                  "type": "integer",
                  "minimum": 1
                }
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "oneOf": [
                    {
                      "$ref": "#/components/schemas/Health"
                    },
                    {
                      "$ref": "#/components/schemas/HTTPError"
                    }
                  ]
                }
              }
            }
          },
          "504": {
            "$ref": "#/components/responses/GatewayTimeout"
          }
        }
      }
    },
    "/api/users": {
      "post": {
        "operationId": "createUser",
        "tags": [
          "users"
        ],
        "summary": "Sign up",
        "description": "Open to anyone; a token that is sent must still be valid.",
        "parameters": [
          {
            "$ref": "#/components/parameters/Idempotency-Key"
          }
        ],
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/NewUser"
              },
              "example": {
                "name": "Alice",
                "email": "alice@example.com",
                "password": "pass123"
              }
            }
          }
        },
        "security": [
          {
            "bearerAuth": []
          },
          {}
        ],
        "responses": {
          "201": {
            "description": "The new user.",
            "headers": {
              "X-Request-ID": {
                "$ref": "#/components/headers/X-Request-ID"
              },
              "Location": {
                "$ref": "#/components/headers/Location"
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/User"
                },
                "example": {
                  "id": 1,
                  "name": "Alice",
                  "email": "alice@example.com",
                  "role": "user",
                  "created_at": "2026-11-25T16:22:47.120Z",
                  "updated_at": "2026-11-25T16:22:47.120Z"
                }
              }
            },
            "links": {
              "GetUser": {
                "operationId": "getUser",
                "description": "The user just created.",
                "parameters": {
                  "user_id": "$response.body#/id"
                }
              },
              "UpdateUser": {
                "operationId": "updateUser",
                "description": "Rename the user just created (a new name needs no current password).",
                "parameters": {
                  "user_id": "$response.body#/id"
                },
                "requestBody": {
                  "name": "Alice Liddell"
                }
              },
              "DeleteUser": {
                "operationId": "deleteUser",
                "description": "Delete the user just created.",
                "parameters": {
                  "user_id": "$response.body#/id"
                }
              },
              "GetWatchlist": {
                "operationId": "getWatchlist",
                "description": "The new user's (empty) watchlist.",
                "parameters": {
                  "user_id": "$response.body#/id"
                }
              },
              "AddToWatchlist": {
                "operationId": "addToWatchlist",
                "description": "Add a movie to the new user's watchlist.",
                "requestBody": {
                  "user_id": "$response.body#/id",
                  "movie_id": 1
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "409": {
            "$ref": "#/components/responses/EmailTaken"
          },
          "413": {
            "$ref": "#/components/responses/PayloadTooLarge"
          },
          "415": {
            "$ref": "#/components/responses/UnsupportedMediaType"
          },
          "422": {
            "$ref": "#/components/responses/ValidationError"
          },
          "429": {
            "$ref": "#/components/responses/TooManyRequests"
          },
          "502": {
            "$ref": "#/components/responses/BadGateway"
          },
          "503": {
            "$ref": "#/components/responses/ServiceUnavailable"
          },
          "504": {
            "$ref": "#/components/responses/GatewayTimeout"
          }
        }
      },
      "get": {
        "operationId": "listUsers",
        "tags": [
          "users"
        ],
        "summary": "List users",
        "description": "Once a caller is known (always with `AUTH_REQUIRED=true`), admins only.",
        "parameters": [
          {
            "$ref": "#/components/parameters/limit"
          },
          {
            "$ref": "#/components/parameters/offset"
          }
        ],
        "security": [
          {
            "bearerAuth": []
          },
          {}
        ],
        "responses": {
          "200": {
            "description": "A page of users, ordered by id.",
            "headers": {
              "X-Request-ID": {
                "$ref": "#/components/headers/X-Request-ID"
              },
              "X-Total-Count": {
                "$ref": "#/components/headers/X-Total-Count"
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "type": "array",
                  "items": {
                    "$ref": "#/components/schemas/User"
                  }
                },
                "example": [
                  {
                    "id": 1,
                    "name": "Alice",
                    "email": "alice@example.com",
                    "role": "user",
                    "created_at": "2026-11-25T16:22:47.120Z",
                    "updated_at": "2026-11-25T16:22:47.120Z"
                  }
                ]
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "422": {
            "$ref": "#/components/responses/ValidationError"
          },
          "429": {
            "$ref": "#/components/responses/TooManyRequests"
          },
          "502": {
            "$ref": "#/components/responses/BadGateway"
          },
          "503": {
            "$ref": "#/components/responses/ServiceUnavailable"
          },
          "504": {
            "$ref": "#/components/responses/GatewayTimeout"
          }
        }
      }
    },
    "/api/users/{user_id}": {
      "parameters": [
        {
          "$ref": "#/components/parameters/user_id"
        }
      ],
      "get": {
        "operationId": "getUser",
        "tags": [
          "users"
        ],
        "summary": "Get a user",
        "description": "A caller may read only their own record (403 before the lookup otherwise).",
        "security": [
          {
            "bearerAuth": []
          },
          {}
        ],
        "responses": {
          "200": {
            "description": "The user.",
            "headers": {
              "X-Request-ID": {
                "$ref": "#/components/headers/X-Request-ID"
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/User"
                },
                "example": {
                  "id": 1,
                  "name": "Alice",
                  "email": "alice@example.com",
                  "role": "user",
                  "created_at": "2026-11-25T16:22:47.120Z",
                  "updated_at": "2026-11-25T16:22:47.120Z"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "404": {
            "$ref": "#/components/responses/UserNotFound"
          },
          "422": {
            "$ref": "#/components/responses/ValidationError"
          },
          "429": {
            "$ref": "#/components/responses/TooManyRequests"
          },
          "502": {
            "$ref": "#/components/responses/BadGateway"
          },
          "503": {
            "$ref": "#/components/responses/ServiceUnavailable"
          },
          "504": {
            "$ref": "#/components/responses/GatewayTimeout"
          }
        }
      },
      "put": {
        "operationId": "updateUser",
        "tags": [
          "users"
        ],
        "summary": "Change a user (any non-empty subset of the fields)",
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/UserUpdate"
              },
              "example": {
                "password": "new-secret",
                "current_password": "pass123"
              }
            }
          }
        },
        "security": [
          {
            "bearerAuth": []
          },
          {}
        ],
        "responses": {
          "200": {
            "$ref": "#/components/responses/UserChanged"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/UserChangeForbidden"
          },
          "404": {
            "$ref": "#/components/responses/UserNotFound"
          },
          "409": {
            "$ref": "#/components/responses/EmailTaken"
          },
          "413": {
            "$ref": "#/components/responses/PayloadTooLarge"
          },
          "415": {
            "$ref": "#/components/responses/UnsupportedMediaType"
          },
          "422": {
            "$ref": "#/components/responses/ValidationError"
          },
          "429": {
            "$ref": "#/components/responses/TooManyRequests"
          },
          "502": {
            "$ref": "#/components/responses/BadGateway"
          },
          "503": {
            "$ref": "#/components/responses/ServiceUnavailable"
          },
          "504": {
            "$ref": "#/components/responses/GatewayTimeout"
          }
        }
      },
      "patch": {
        "operationId": "patchUser",
        "tags": [
          "users"
        ],
        "summary": "Change a user (same as PUT)",
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/UserUpdate"
              },
              "example": {
                "email": "alice@example.org",
                "current_password": "pass123"
              }
            }
          }
        },
        "security": [
          {
            "bearerAuth": []
          },
          {}
        ],
        "responses": {
          "200": {
            "$ref": "#/components/responses/UserChanged"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/UserChangeForbidden"
          },
          "404": {
            "$ref": "#/components/responses/UserNotFound"
          },
          "409": {
            "$ref": "#/components/responses/EmailTaken"
          },
          "413": {
            "$ref": "#/components/responses/PayloadTooLarge"
          },
          "415": {
            "$ref": "#/components/responses/UnsupportedMediaType"
          },
          "422": {
            "$ref": "#/components/responses/ValidationError"
          },
          "429": {
            "$ref": "#/components/responses/TooManyRequests"
          },
          "502": {
            "$ref": "#/components/responses/BadGateway"
          },
          "503": {
            "$ref": "#/components/responses/ServiceUnavailable"
          },
          "504": {
            "$ref": "#/components/responses/GatewayTimeout"
          }
        }
      },
      "delete": {
        "operationId": "deleteUser",
        "tags": [
          "users"
        ],
        "summary": "Delete a user (their watchlist goes with it)",
        "security": [
          {
            "bearerAuth": []
          },
          {}
        ],
        "responses": {
          "204": {
            "description": "Deleted.",
            "headers": {
              "X-Request-ID": {
                "$ref": "#/components/headers/X-Request-ID"
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "404": {
            "$ref": "#/components/responses/UserNotFound"
          },
          "422": {
            "$ref": "#/components/responses/ValidationError"
          },
          "429": {
            "$ref": "#/components/responses/TooManyRequests"
          },
          "502": {
            "$ref": "#/components/responses/BadGateway"
          },
          "503": {
            "$ref": "#/components/responses/ServiceUnavailable"
          },
          "504": {
            "$ref": "#/components/responses/GatewayTimeout"
          }
        }
      }
    },
    "/api/auth/login": {
      "post": {
        "operationId": "login",
        "tags": [
          "auth"
        ],
        "summary": "Log in: a bearer token",
        "description": "Repeated failures for one email or one client address are answered 429 with `Retry-After`.",
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/LoginRequest"
              },
              "example": {
                "email": "alice@example.com",
                "password": "pass123"
              }
            }
          }
        },
        "security": [
          {
            "bearerAuth": []
          },
          {}
        ],
        "responses": {
          "200": {
            "description": "A token for the user (`Cache-Control: no-store`).",
            "headers": {
              "X-Request-ID": {
                "$ref": "#/components/headers/X-Request-ID"
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Token"
                },
                "example": {
                  "access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJzdWIiOiIxIn0.c2lnbmF0dXJl",
                  "token_type": "bearer",
                  "expires_in": 3600,
                  "user": {
                    "id": 1,
                    "name": "Alice",
                    "email": "alice@example.com",
                    "role": "user",
                    "created_at": "2026-11-25T16:22:47.120Z",
                    "updated_at": "2026-11-25T16:22:47.120Z"
                  }
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "413": {
            "$ref": "#/components/responses/PayloadTooLarge"
          },
          "415": {
            "$ref": "#/components/responses/UnsupportedMediaType"
          },
          "422": {
            "$ref": "#/components/responses/ValidationError"
          },
          "429": {
            "$ref": "#/components/responses/TooManyRequests"
          },
          "502": {
            "$ref": "#/components/responses/BadGateway"
          },
          "503": {
            "$ref": "#/components/responses/ServiceUnavailable"
          },
          "504": {
            "$ref": "#/components/responses/GatewayTimeout"
          }
        }
      }
    },
    "/api/auth/me": {
      "get": {
        "operationId": "me",
        "tags": [
          "auth"
        ],
        "summary": "The caller's own user",
        "description": "401 without a valid token whatever `AUTH_REQUIRED` says, and 401 `Token revoked` for a token issued before a password, email or role change of its user, or after the user's deletion.",
        "security": [
          {
            "bearerAuth": []
          }
        ],
        "responses": {
          "200": {
            "description": "The user the token names.",
            "headers": {
              "X-Request-ID": {
                "$ref": "#/components/headers/X-Request-ID"
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/User"
                },
                "example": {
                  "id": 1,
                  "name": "Alice",
                  "email": "alice@example.com",
                  "role": "user",
                  "created_at": "2026-11-25T16:22:47.120Z",
                  "updated_at": "2026-11-25T16:22:47.120Z"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "429": {
            "$ref": "#/components/responses/TooManyRequests"
          },
          "502": {
            "$ref": "#/components/responses/BadGateway"
          },
          "503": {
            "$ref": "#/components/responses/ServiceUnavailable"
          },
          "504": {
            "$ref": "#/components/responses/GatewayTimeout"
          }
        }
      }
    },
    "/api/movies": {
      "get": {
        "operationId": "listMovies",
        "tags": [
          "movies"
        ],
        "summary": "List movies",
        "parameters": [
          {
            "name": "genre",
            "in": "query",
            "required": false,
            "description": "Only this genre, compared case-insensitively; empty means no filter.",
            "schema": {
              "type": "string",
              "pattern": "^[^\\x00]*$"
            },
            "example": "Sci-Fi"
          },
          {
            "$ref": "#/components/parameters/limit"
          },
          {
            "$ref": "#/components/parameters/offset"
          }
        ],
        "security": [
          {
            "bearerAuth": []
          },
          {}
        ],
        "responses": {
          "200": {
            "description": "A page of movies, ordered by id.",
            "headers": {
              "X-Request-ID": {
                "$ref": "#/components/headers/X-Request-ID"
              },
              "X-Total-Count": {
                "$ref": "#/components/headers/X-Total-Count"
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "type": "array",
                  "items": {
                    "$ref": "#/components/schemas/Movie"
                  }
                },
                "example": [
                  {
                    "id": 1,
                    "title": "Inception",
                    "director": "Christopher Nolan",
                    "year": 2010,
                    "genre": "Sci-Fi",
                    "rating": 8.8,
                    "created_at": "2026-11-25T16:22:48.031Z",
                    "updated_at": "2026-11-25T16:22:48.031Z"
                  }
                ]
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "422": {
            "$ref": "#/components/responses/ValidationError"
          },
          "429": {
            "$ref": "#/components/responses/TooManyRequests"
          },
          "502": {
            "$ref": "#/components/responses/BadGateway"
          },
          "503": {
            "$ref": "#/components/responses/ServiceUnavailable"
          },
          "504": {
            "$ref": "#/components/responses/GatewayTimeout"
          }
        }
      },
      "post": {
        "operationId": "createMovie",
        "tags": [
          "movies"
        ],
        "summary": "Add a movie",
        "parameters": [
          {
            "$ref": "#/components/parameters/Idempotency-Key"
          }
        ],
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/NewMovie"
              },
              "example": {
                "title": "Inception",
                "director": "Christopher Nolan",
                "year": 2010,
                "genre": "Sci-Fi",
                "rating": 8.8
              }
            }
          }
        },
        "security": [
          {
            "bearerAuth": []
          },
          {}
        ],
        "responses": {
          "201": {
            "description": "The new movie.",
            "headers": {
              "X-Request-ID": {
                "$ref": "#/components/headers/X-Request-ID"
              },
              "Location": {
                "$ref": "#/components/headers/Location"
              },
              "ETag": {
                "$ref": "#/components/headers/ETag"
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Movie"
                },
                "example": {
                  "id": 1,
                  "title": "Inception",
                  "director": "Christopher Nolan",
                  "year": 2010,
                  "genre": "Sci-Fi",
                  "rating": 8.8,
                  "created_at": "2026-11-25T16:22:48.031Z",
                  "updated_at": "2026-11-25T16:22:48.031Z"
                }
              }
            },
            "links": {
              "GetMovie": {
                "operationId": "getMovie",
                "description": "The movie just created.",
                "parameters": {
                  "movie_id": "$response.body#/id"
                }
              },
              "UpdateMovie": {
                "operationId": "updateMovie",
                "description": "Change the movie just created.",
                "parameters": {
                  "movie_id": "$response.body#/id"
                }
              },
              "DeleteMovie": {
                "operationId": "deleteMovie",
                "description": "Delete the movie just created.",
                "parameters": {
                  "movie_id": "$response.body#/id"
                }
              },
              "AddToWatchlist": {
                "operationId": "addToWatchlist",
                "description": "Add the movie just created to user 1's watchlist.",
                "requestBody": {
                  "user_id": 1,
                  "movie_id": "$response.body#/id"
                }
              },
              "GetWatchers": {
                "operationId": "getMovieWatchers",
                "description": "Who saved the movie just created.",
                "parameters": {
                  "movie_id": "$response.body#/id"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/MovieWriteForbidden"
          },
          "413": {
            "$ref": "#/components/responses/PayloadTooLarge"
          },
          "415": {
            "$ref": "#/components/responses/UnsupportedMediaType"
          },
          "422": {
            "$ref": "#/components/responses/ValidationError"
          },
          "429": {
            "$ref": "#/components/responses/TooManyRequests"
          },
          "502": {
            "$ref": "#/components/responses/BadGateway"
          },
          "503": {
            "$ref": "#/components/responses/ServiceUnavailable"
          },
          "504": {
            "$ref": "#/components/responses/GatewayTimeout"
          }
        }
      }
    },
    "/api/movies/batch": {
      "post": {
        "operationId": "getMoviesBatch",
        "tags": [
          "movies"
        ],
        "summary": "Several movies in one call",
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/MovieBatch"
              },
              "example": {
                "movie_ids": [
                  1,
                  2,
                  3
                ]
              }
            }
          }
        },
        "security": [
          {
            "bearerAuth": []
          },
          {}
        ],
        "responses": {
          "200": {
            "description": "The movies found, in the order first asked for, each once; unknown ids left out.",
            "headers": {
              "X-Request-ID": {
                "$ref": "#/components/headers/X-Request-ID"
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "type": "array",
                  "items": {
                    "$ref": "#/components/schemas/Movie"
                  }
                },
                "example": [
                  {
                    "id": 1,
                    "title": "Inception",
                    "director": "Christopher Nolan",
                    "year": 2010,
                    "genre": "Sci-Fi",
                    "rating": 8.8,
                    "created_at": "2026-11-25T16:22:48.031Z",
                    "updated_at": "2026-11-25T16:22:48.031Z"
                  }
                ]
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "413": {
            "$ref": "#/components/responses/PayloadTooLarge"
          },
          "415": {
            "$ref": "#/components/responses/UnsupportedMediaType"
          },
          "422": {
            "$ref": "#/components/responses/ValidationError"
          },
          "429": {
            "$ref": "#/components/responses/TooManyRequests"
          },
          "502": {
            "$ref": "#/components/responses/BadGateway"
          },
          "503": {
            "$ref": "#/components/responses/ServiceUnavailable"
          },
          "504": {
            "$ref": "#/components/responses/GatewayTimeout"
          }
        }
      }
    },
    "/api/movies/{movie_id}": {
      "parameters": [
        {
          "$ref": "#/components/parameters/movie_id"
        }
      ],
      "get": {
        "operationId": "getMovie",
        "tags": [
          "movies"
        ],
        "summary": "Get a movie (cached)",
        "parameters": [
          {
            "name": "If-None-Match",
            "in": "header",
            "required": false,
            "description": "An ETag from an earlier answer (`W/` and `*` match too).",
            "schema": {
              "type": "string"
            }
          }
        ],
        "security": [
          {
            "bearerAuth": []
          },
          {}
        ],
        "responses": {
          "200": {
            "description": "The movie.",
            "headers": {
              "X-Request-ID": {
                "$ref": "#/components/headers/X-Request-ID"
              },
              "ETag": {
                "$ref": "#/components/headers/ETag"
              },
              "X-Cache": {
                "$ref": "#/components/headers/X-Cache"
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Movie"
                },
                "example": {
                  "id": 1,
                  "title": "Inception",
                  "director": "Christopher Nolan",
                  "year": 2010,
                  "genre": "Sci-Fi",
                  "rating": 8.8,
                  "created_at": "2026-11-25T16:22:48.031Z",
                  "updated_at": "2026-11-25T16:22:48.031Z"
                }
              }
            }
          },
          "304": {
            "description": "`If-None-Match` named the current ETag.",
            "headers": {
              "X-Request-ID": {
                "$ref": "#/components/headers/X-Request-ID"
              },
              "ETag": {
                "$ref": "#/components/headers/ETag"
              },
              "X-Cache": {
                "$ref": "#/components/headers/X-Cache"
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "404": {
            "description": "No such movie.",
            "headers": {
              "X-Request-ID": {
                "$ref": "#/components/headers/X-Request-ID"
              },
              "X-Cache": {
                "$ref": "#/components/headers/X-Cache"
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/HTTPError"
                },
                "example": {
                  "detail": "Movie not found"
                }
              }
            }
          },
          "422": {
            "$ref": "#/components/responses/ValidationError"
          },
          "429": {
            "$ref": "#/components/responses/TooManyRequests"
          },
          "502": {
            "$ref": "#/components/responses/BadGateway"
          },
          "503": {
            "$ref": "#/components/responses/ServiceUnavailable"
          },
          "504": {
            "$ref": "#/components/responses/GatewayTimeout"
          }
        }
      },
      "put": {
        "operationId": "updateMovie",
        "tags": [
          "movies"
        ],
        "summary": "Change a movie (any subset of the fields)",
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/MovieUpdate"
              },
              "example": {
                "rating": 9.1
              }
            }
          }
        },
        "security": [
          {
            "bearerAuth": []
          },
          {}
        ],
        "responses": {
          "200": {
            "$ref": "#/components/responses/MovieChanged"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/MovieWriteForbidden"
          },
          "404": {
            "$ref": "#/components/responses/MovieNotFound"
          },
          "413": {
            "$ref": "#/components/responses/PayloadTooLarge"
          },
          "415": {
            "$ref": "#/components/responses/UnsupportedMediaType"
          },
          "422": {
            "$ref": "#/components/responses/ValidationError"
          },
          "429": {
            "$ref": "#/components/responses/TooManyRequests"
          },
          "502": {
            "$ref": "#/components/responses/BadGateway"
          },
          "503": {
            "$ref": "#/components/responses/ServiceUnavailable"
          },
          "504": {
            "$ref": "#/components/responses/GatewayTimeout"
          }
        }
      },
      "patch": {
        "operationId": "patchMovie",
        "tags": [
          "movies"
        ],
        "summary": "Change a movie (same as PUT)",
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/MovieUpdate"
              },
              "example": {
                "rating": 9.1
              }
            }
          }
        },
        "security": [
          {
            "bearerAuth": []
          },
          {}
        ],
        "responses": {
          "200": {
            "$ref": "#/components/responses/MovieChanged"
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/MovieWriteForbidden"
          },
          "404": {
            "$ref": "#/components/responses/MovieNotFound"
          },
          "413": {
            "$ref": "#/components/responses/PayloadTooLarge"
          },
          "415": {
            "$ref": "#/components/responses/UnsupportedMediaType"
          },
          "422": {
            "$ref": "#/components/responses/ValidationError"
          },
          "429": {
            "$ref": "#/components/responses/TooManyRequests"
          },
          "502": {
            "$ref": "#/components/responses/BadGateway"
          },
          "503": {
            "$ref": "#/components/responses/ServiceUnavailable"
          },
          "504": {
            "$ref": "#/components/responses/GatewayTimeout"
          }
        }
      },
      "delete": {
        "operationId": "deleteMovie",
        "tags": [
          "movies"
        ],
        "summary": "Delete a movie",
        "security": [
          {
            "bearerAuth": []
          },
          {}
        ],
        "responses": {
          "204": {
            "description": "Deleted (database first, then the cache entry).",
            "headers": {
              "X-Request-ID": {
                "$ref": "#/components/headers/X-Request-ID"
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/MovieWriteForbidden"
          },
          "404": {
            "$ref": "#/components/responses/MovieNotFound"
          },
          "422": {
            "$ref": "#/components/responses/ValidationError"
          },
          "429": {
            "$ref": "#/components/responses/TooManyRequests"
          },
          "502": {
            "$ref": "#/components/responses/BadGateway"
          },
          "503": {
            "$ref": "#/components/responses/ServiceUnavailable"
          },
          "504": {
            "$ref": "#/components/responses/GatewayTimeout"
          }
        }
      }
    },
    "/api/watchlist": {
      "post": {
        "operationId": "addToWatchlist",
        "tags": [
          "watchlist"
        ],
        "summary": "Add a movie to a user's watchlist",
        "description": "The user and the movie are checked against their services concurrently; 503 when a service needed for the check is down.",
        "parameters": [
          {
            "$ref": "#/components/parameters/Idempotency-Key"
          }
        ],
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/NewWatchlistEntry"
              },
              "example": {
                "user_id": 1,
                "movie_id": 1
              }
            }
          }
        },
        "security": [
          {
            "bearerAuth": []
          },
          {}
        ],
        "responses": {
          "201": {
            "description": "The new entry.",
            "headers": {
              "X-Request-ID": {
                "$ref": "#/components/headers/X-Request-ID"
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/WatchlistEntry"
                },
                "example": {
                  "id": 1,
                  "user_id": 1,
                  "movie_id": 1,
                  "added_at": "2026-11-25T16:22:49.502Z"
                }
              }
            },
            "links": {
              "DeleteEntry": {
                "operationId": "deleteWatchlistEntry",
                "description": "Remove the entry just added.",
                "parameters": {
                  "entry_id": "$response.body#/id"
                }
              },
              "CheckEntry": {
                "operationId": "checkWatchlistMovie",
                "description": "Is the movie on the list now.",
                "parameters": {
                  "user_id": "$response.body#/user_id",
                  "movie_id": "$response.body#/movie_id"
                }
              },
              "RemoveMovie": {
                "operationId": "removeWatchlistMovie",
                "description": "Remove the movie from the list.",
                "parameters": {
                  "user_id": "$response.body#/user_id",
                  "movie_id": "$response.body#/movie_id"
                }
              },
              "GetWatchlist": {
                "operationId": "getWatchlist",
                "description": "The list with the entry.",
                "parameters": {
                  "user_id": "$response.body#/user_id"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "404": {
            "description": "The user or the movie does not exist (named).",
            "headers": {
              "X-Request-ID": {
                "$ref": "#/components/headers/X-Request-ID"
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/HTTPError"
                },
                "example": {
                  "detail": "Movie not found"
                }
              }
            }
          },
          "409": {
            "description": "The movie is already on that list.",
            "headers": {
              "X-Request-ID": {
                "$ref": "#/components/headers/X-Request-ID"
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/HTTPError"
                },
                "example": {
                  "detail": "Movie already in watchlist"
                }
              }
            }
          },
          "413": {
            "$ref": "#/components/responses/PayloadTooLarge"
          },
          "415": {
            "$ref": "#/components/responses/UnsupportedMediaType"
          },
          "422": {
            "$ref": "#/components/responses/ValidationError"
          },
          "429": {
            "$ref": "#/components/responses/TooManyRequests"
          },
          "502": {
            "$ref": "#/components/responses/BadGateway"
          },
          "503": {
            "$ref": "#/components/responses/ServiceUnavailable"
          },
          "504": {
            "$ref": "#/components/responses/GatewayTimeout"
          }
        }
      }
    },
    "/api/watchlist/user/{user_id}": {
      "parameters": [
        {
          "$ref": "#/components/parameters/user_id"
        }
      ],
      "get": {
        "operationId": "getWatchlist",
        "tags": [
          "watchlist"
        ],
        "summary": "A user's watchlist with movie info",
        "parameters": [
          {
            "$ref": "#/components/parameters/limit"
          },
          {
            "$ref": "#/components/parameters/offset"
          }
        ],
        "security": [
          {
            "bearerAuth": []
          },
          {}
        ],
        "responses": {
          "200": {
            "description": "A page of entries, newest first, each with its movie's summary (one batch call to the movie service).",
            "headers": {
              "X-Request-ID": {
                "$ref": "#/components/headers/X-Request-ID"
              },
              "X-Total-Count": {
                "$ref": "#/components/headers/X-Total-Count"
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "type": "array",
                  "items": {
                    "$ref": "#/components/schemas/WatchlistItem"
                  }
                },
                "example": [
                  {
                    "id": 1,
                    "user_id": 1,
                    "movie_id": 1,
                    "added_at": "2026-11-25T16:22:49.502Z",
                    "movie": {
                      "id": 1,
                      "title": "Inception",
                      "director": "Christopher Nolan",
                      "year": 2010,
                      "genre": "Sci-Fi",
                      "rating": 8.8
                    }
                  }
                ]
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "422": {
            "$ref": "#/components/responses/ValidationError"
          },
          "429": {
            "$ref": "#/components/responses/TooManyRequests"
          },
          "502": {
            "$ref": "#/components/responses/BadGateway"
          },
          "503": {
            "$ref": "#/components/responses/ServiceUnavailable"
          },
          "504": {
            "$ref": "#/components/responses/GatewayTimeout"
          }
        }
      }
    },
    "/api/watchlist/user/{user_id}/export": {
      "parameters": [
        {
          "$ref": "#/components/parameters/user_id"
        }
      ],
      "get": {
        "operationId": "exportWatchlist",
        "tags": [
          "watchlist"
        ],
        "summary": "Export a user's watchlist with full movie objects",
        "parameters": [
          {
            "name": "limit",
            "in": "query",
            "required": false,
            "description": "Entries to export (the movie service's batch limit).",
            "schema": {
              "type": "integer",
              "minimum": 1,
              "maximum": 1000,
              "default": 1000
            }
          },
          {
            "$ref": "#/components/parameters/offset"
          }
        ],
        "security": [
          {
            "bearerAuth": []
          },
          {}
        ],
        "responses": {
          "200": {
            "description": "The export (`X-Total-Count`: entries on the whole list).",
            "headers": {
              "X-Request-ID": {
                "$ref": "#/components/headers/X-Request-ID"
              },
              "X-Total-Count": {
                "$ref": "#/components/headers/X-Total-Count"
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/WatchlistExport"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "422": {
            "$ref": "#/components/responses/ValidationError"
          },
          "429": {
            "$ref": "#/components/responses/TooManyRequests"
          },
          "502": {
            "$ref": "#/components/responses/BadGateway"
          },
          "503": {
            "$ref": "#/components/responses/ServiceUnavailable"
          },
          "504": {
            "$ref": "#/components/responses/GatewayTimeout"
          }
        }
      }
    },
    "/api/watchlist/user/{user_id}/movie/{movie_id}": {
      "parameters": [
        {
          "$ref": "#/components/parameters/user_id"
        },
        {
          "$ref": "#/components/parameters/movie_id"
        }
      ],
      "get": {
        "operationId": "checkWatchlistMovie",
        "tags": [
          "watchlist"
        ],
        "summary": "Whether a movie is on a user's watchlist",
        "security": [
          {
            "bearerAuth": []
          },
          {}
        ],
        "responses": {
          "200": {
            "description": "The answer.",
            "headers": {
              "X-Request-ID": {
                "$ref": "#/components/headers/X-Request-ID"
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/WatchlistCheck"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "422": {
            "$ref": "#/components/responses/ValidationError"
          },
          "429": {
            "$ref": "#/components/responses/TooManyRequests"
          },
          "502": {
            "$ref": "#/components/responses/BadGateway"
          },
          "503": {
            "$ref": "#/components/responses/ServiceUnavailable"
          },
          "504": {
            "$ref": "#/components/responses/GatewayTimeout"
          }
        }
      },
      "delete": {
        "operationId": "removeWatchlistMovie",
        "tags": [
          "watchlist"
        ],
        "summary": "Remove a movie from a user's watchlist",
        "security": [
          {
            "bearerAuth": []
          },
          {}
        ],
        "responses": {
          "204": {
            "description": "Removed.",
            "headers": {
              "X-Request-ID": {
                "$ref": "#/components/headers/X-Request-ID"
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "404": {
            "$ref": "#/components/responses/EntryNotFound"
          },
          "422": {
            "$ref": "#/components/responses/ValidationError"
          },
          "429": {
            "$ref": "#/components/responses/TooManyRequests"
          },
          "502": {
            "$ref": "#/components/responses/BadGateway"
          },
          "503": {
            "$ref": "#/components/responses/ServiceUnavailable"
          },
          "504": {
            "$ref": "#/components/responses/GatewayTimeout"
          }
        }
      }
    },
    "/api/watchlist/movie/{movie_id}": {
      "parameters": [
        {
          "$ref": "#/components/parameters/movie_id"
        }
      ],
      "get": {
        "operationId": "getMovieWatchers",
        "tags": [
          "watchlist"
        ],
        "summary": "The entries of every user who saved a movie",
        "description": "Every user's ids: admins only once a caller is known (403 for a plain user; with `AUTH_REQUIRED=true` a token is needed).",
        "parameters": [
          {
            "$ref": "#/components/parameters/limit"
          },
          {
            "$ref": "#/components/parameters/offset"
          }
        ],
        "security": [
          {
            "bearerAuth": []
          },
          {}
        ],
        "responses": {
          "200": {
            "description": "A page of entries for the movie.",
            "headers": {
              "X-Request-ID": {
                "$ref": "#/components/headers/X-Request-ID"
              },
              "X-Total-Count": {
                "$ref": "#/components/headers/X-Total-Count"
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "type": "array",
                  "items": {
                    "$ref": "#/components/schemas/WatchlistEntry"
                  }
                },
                "example": [
                  {
                    "id": 1,
                    "user_id": 1,
                    "movie_id": 1,
                    "added_at": "2026-11-25T16:22:49.502Z"
                  }
                ]
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "422": {
            "$ref": "#/components/responses/ValidationError"
          },
          "429": {
            "$ref": "#/components/responses/TooManyRequests"
          },
          "502": {
            "$ref": "#/components/responses/BadGateway"
          },
          "503": {
            "$ref": "#/components/responses/ServiceUnavailable"
          },
          "504": {
            "$ref": "#/components/responses/GatewayTimeout"
          }
        }
      }
    },
    "/api/watchlist/{entry_id}": {
      "parameters": [
        {
          "$ref": "#/components/parameters/entry_id"
        }
      ],
      "delete": {
        "operationId": "deleteWatchlistEntry",
        "tags": [
          "watchlist"
        ],
        "summary": "Remove a watchlist entry",
        "security": [
          {
            "bearerAuth": []
          },
          {}
        ],
        "responses": {
          "204": {
            "description": "Removed.",
            "headers": {
              "X-Request-ID": {
                "$ref": "#/components/headers/X-Request-ID"
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "404": {
            "$ref": "#/components/responses/EntryNotFound"
          },
          "422": {
            "$ref": "#/components/responses/ValidationError"
          },
          "429": {
            "$ref": "#/components/responses/TooManyRequests"
          },
          "502": {
            "$ref": "#/components/responses/BadGateway"
          },
          "503": {
            "$ref": "#/components/responses/ServiceUnavailable"
          },
          "504": {
            "$ref": "#/components/responses/GatewayTimeout"
          }
        }
      }
    }
  },
  "components": {
    "schemas": {
      "HTTPError": {
        "type": "object",
        "required": [
          "detail"
        ],
        "properties": {
          "detail": {
            "type": "string"
          }
        }
      },
      "ValidationIssue": {
        "type": "object",
        "required": [
          "type",
          "loc",
          "msg"
        ],
        "properties": {
          "type": {
            "type": "string",
            "description": "pydantic v2's error type: `missing`, `string_type`, `int_parsing`, `greater_than_equal`, ..."
          },
          "loc": {
            "type": "array",
            "items": {
              "type": [
                "string",
                "integer"
              ]
            },
            "description": "`[\"body\", \"email\"]`, `[\"path\", \"user_id\"]`, `[\"query\", \"limit\"]`, `[\"body\", \"movie_ids\", 3]`."
          },
          "msg": {
            "type": "string"
          },
          "input": {
            "description": "The offending value (never for passwords)."
          },
          "ctx": {
            "type": "object"
          }
        }
      },
      "ValidationErrorBody": {
        "type": "object",
        "required": [
          "detail"
        ],
        "properties": {
          "detail": {
            "type": "array",
            "minItems": 1,
            "items": {
              "$ref": "#/components/schemas/ValidationIssue"
            }
          }
        }
      },
      "User": {
        "type": "object",
        "required": [
          "id",
          "name",
          "email",
          "role",
          "created_at",
          "updated_at"
        ],
        "properties": {
          "id": {
            "type": "integer",
            "format": "int64",
            "minimum": 1,
            "maximum": 9223372036854775807,
            "description": "Assigned by the user service."
          },
          "name": {
            "type": "string",
            "minLength": 1,
            "maxLength": 100
          },
          "email": {
            "type": "string",
            "format": "email",
            "maxLength": 254,
            "description": "Stored lower-case."
          },
          "role": {
            "type": "string",
            "enum": [
              "user",
              "admin"
            ],
            "description": "`admin` is granted by an operator only; a sign-up is a `user`."
          },
          "created_at": {
            "type": "string",
            "format": "date-time",
            "description": "RFC 3339, UTC with a `Z`."
          },
          "updated_at": {
            "type": "string",
            "format": "date-time",
            "description": "RFC 3339, UTC with a `Z`."
          }
        },
        "example": {
          "id": 1,
          "name": "Alice",
          "email": "alice@example.com",
          "role": "user",
          "created_at": "2026-11-25T16:22:47.120Z",
          "updated_at": "2026-11-25T16:22:47.120Z"
        }
      },
      "NewUser": {
        "type": "object",
        "required": [
          "name",
          "email",
          "password"
        ],
        "properties": {
          "name": {
            "type": "string",
            "maxLength": 100,
            "description": "1-100 characters after trimming; stored trimmed.",
            "minLength": 1,
            "pattern": "^[^\\x00]*[^\\s\\x00][^\\x00]*$"
          },
          "email": {
            "type": "string",
            "format": "email",
            "maxLength": 254,
            "pattern": "^[^\\x00]*$",
            "description": "A valid address of at most 254 characters, compared case-insensitively and unique (409)."
          },
          "password": {
            "type": "string",
            "minLength": 6,
            "maxLength": 128,
            "pattern": "^[^\\x00]*$",
            "description": "6-128 characters, not trimmed; stored as a salted scrypt hash, never returned."
          }
        },
        "example": {
          "name": "Alice",
          "email": "alice@example.com",
          "password": "pass123"
        }
      },
      "UserUpdate": {
        "type": "object",
        "description": "Any non-empty subset of name, email and password; changing the email or the password also needs `current_password` (missing: 422; wrong: 403, counted against the login throttle). A new email or password revokes the user's earlier tokens.",
        "properties": {
          "name": {
            "type": "string",
            "maxLength": 100,
            "description": "1-100 characters after trimming.",
            "minLength": 1,
            "pattern": "^[^\\x00]*[^\\s\\x00][^\\x00]*$"
          },
          "email": {
            "type": "string",
            "format": "email",
            "maxLength": 254,
            "pattern": "^[^\\x00]*$"
          },
          "password": {
            "type": "string",
            "minLength": 6,
            "maxLength": 128,
            "pattern": "^[^\\x00]*$"
          },
          "current_password": {
            "type": "string",
            "minLength": 1,
            "maxLength": 1024,
            "pattern": "^[^\\x00]*$",
            "description": "The user's password now; needed with `email` or `password`."
          }
        },
        "anyOf": [
          {
            "required": [
              "name"
            ],
            "properties": {
              "email": false,
              "password": false
            }
          },
          {
            "required": [
              "email",
              "current_password"
            ]
          },
          {
            "required": [
              "password",
              "current_password"
            ]
          }
        ],
        "example": {
          "password": "new-secret",
          "current_password": "pass123"
        }
      },
      "LoginRequest": {
        "type": "object",
        "required": [
          "email",
          "password"
        ],
        "properties": {
          "email": {
            "type": "string",
            "maxLength": 320,
            "description": "Any string of up to 320 characters after trimming: an address that never registered fails like a wrong password.",
            "minLength": 1,
            "pattern": "^[^\\x00]*[^\\s\\x00][^\\x00]*$"
          },
          "password": {
            "type": "string",
            "minLength": 1,
            "maxLength": 1024,
            "pattern": "^[^\\x00]*$"
          }
        },
        "example": {
          "email": "alice@example.com",
          "password": "pass123"
        }
      },
      "Token": {
        "type": "object",
        "required": [
          "access_token",
          "token_type",
          "expires_in",
          "user"
        ],
        "properties": {
          "access_token": {
            "type": "string",
            "description": "An HS256 JWT; send it as `Authorization: Bearer <token>`."
          },
          "token_type": {
            "const": "bearer"
          },
          "expires_in": {
            "type": "integer",
            "minimum": 1,
            "description": "Seconds."
          },
          "user": {
            "$ref": "#/components/schemas/User"
          }
        }
      },
      "Movie": {
        "type": "object",
        "required": [
          "id",
          "title",
          "director",
          "year",
          "genre",
          "rating",
          "created_at",
          "updated_at"
        ],
        "properties": {
          "id": {
            "type": "integer",
            "format": "int64",
            "minimum": 1,
            "maximum": 9223372036854775807,
            "description": "Assigned by the movie service."
          },
          "title": {
            "type": "string",
            "minLength": 1,
            "maxLength": 200
          },
          "director": {
            "type": [
              "string",
              "null"
            ],
            "maxLength": 200
          },
          "year": {
            "type": "integer",
            "minimum": 1878,
            "maximum": 2100
          },
          "genre": {
            "type": "string",
            "minLength": 1,
            "maxLength": 50
          },
          "rating": {
            "type": [
              "number",
              "null"
            ],
            "minimum": 0,
            "maximum": 10
          },
          "created_at": {
            "type": "string",
            "format": "date-time",
            "description": "RFC 3339, UTC with a `Z`."
          },
          "updated_at": {
            "type": "string",
            "format": "date-time",
            "description": "RFC 3339, UTC with a `Z`."
          }
        },
        "example": {
          "id": 1,
          "title": "Inception",
          "director": "Christopher Nolan",
          "year": 2010,
          "genre": "Sci-Fi",
          "rating": 8.8,
          "created_at": "2026-11-25T16:22:48.031Z",
          "updated_at": "2026-11-25T16:22:48.031Z"
        }
      },
      "NewMovie": {
        "type": "object",
        "required": [
          "title",
          "year",
          "genre"
        ],
        "properties": {
          "title": {
            "type": "string",
            "maxLength": 200,
            "description": "1-200 characters after trimming.",
            "minLength": 1,
            "pattern": "^[^\\x00]*[^\\s\\x00][^\\x00]*$"
          },
          "director": {
            "type": [
              "string",
              "null"
            ],
            "maxLength": 200,
            "description": "0-200 characters after trimming, or null.",
            "pattern": "^[^\\x00]*$"
          },
          "year": {
            "type": "integer",
            "minimum": 1878,
            "maximum": 2100,
            "description": "A JSON integer (`2010.0` is one too); `\"2010\"` is refused."
          },
          "genre": {
            "type": "string",
            "maxLength": 50,
            "description": "1-50 characters after trimming.",
            "minLength": 1,
            "pattern": "^[^\\x00]*[^\\s\\x00][^\\x00]*$"
          },
          "rating": {
            "type": [
              "number",
              "null"
            ],
            "minimum": 0,
            "maximum": 10
          }
        },
        "example": {
          "title": "Inception",
          "director": "Christopher Nolan",
          "year": 2010,
          "genre": "Sci-Fi",
          "rating": 8.8
        }
      },
      "MovieUpdate": {
        "type": "object",
        "description": "Any subset of the fields: an absent one is kept, `null` clears `director` or `rating`; `{}` changes nothing.",
        "properties": {
          "title": {
            "type": "string",
            "maxLength": 200,
            "description": "1-200 characters after trimming.",
            "minLength": 1,
            "pattern": "^[^\\x00]*[^\\s\\x00][^\\x00]*$"
          },
          "director": {
            "type": [
              "string",
              "null"
            ],
            "maxLength": 200,
            "description": "0-200 characters after trimming, or null.",
            "pattern": "^[^\\x00]*$"
          },
          "year": {
            "type": "integer",
            "minimum": 1878,
            "maximum": 2100
          },
          "genre": {
            "type": "string",
            "maxLength": 50,
            "description": "1-50 characters after trimming.",
            "minLength": 1,
            "pattern": "^[^\\x00]*[^\\s\\x00][^\\x00]*$"
          },
          "rating": {
            "type": [
              "number",
              "null"
            ],
            "minimum": 0,
            "maximum": 10
          }
        },
        "example": {
          "rating": 9.1
        }
      },
      "MovieBatch": {
        "type": "object",
        "required": [
          "movie_ids"
        ],
        "properties": {
          "movie_ids": {
            "type": "array",
            "minItems": 1,
            "maxItems": 1000,
            "items": {
              "type": "integer",
              "format": "int64",
              "minimum": 1,
              "maximum": 9223372036854775807,
              "description": "A movie id."
            }
          }
        },
        "example": {
          "movie_ids": [
            1,
            2,
            3
          ]
        }
      },
      "NewWatchlistEntry": {
        "type": "object",
        "required": [
          "user_id",
          "movie_id"
        ],
        "properties": {
          "user_id": {
            "type": "integer",
            "format": "int64",
            "minimum": 1,
            "maximum": 9223372036854775807,
            "description": "An existing user (404 otherwise)."
          },
          "movie_id": {
            "type": "integer",
            "format": "int64",
            "minimum": 1,
            "maximum": 9223372036854775807,
            "description": "An existing movie (404 otherwise)."
          }
        },
        "example": {
          "user_id": 1,
          "movie_id": 1
        }
      },
      "WatchlistEntry": {
        "type": "object",
        "required": [
          "id",
          "user_id",
          "movie_id",
          "added_at"
        ],
        "properties": {
          "id": {
            "type": "integer",
            "format": "int64",
            "minimum": 1,
            "maximum": 9223372036854775807,
            "description": "The entry's id."
          },
          "user_id": {
            "type": "integer",
            "format": "int64",
            "minimum": 1,
            "maximum": 9223372036854775807,
            "description": "The user."
          },
          "movie_id": {
            "type": "integer",
            "format": "int64",
            "minimum": 1,
            "maximum": 9223372036854775807,
            "description": "The movie."
          },
          "added_at": {
            "type": "string",
            "format": "date-time",
            "description": "RFC 3339, UTC with a `Z`."
          }
        },
        "example": {
          "id": 1,
          "user_id": 1,
          "movie_id": 1,
          "added_at": "2026-11-25T16:22:49.502Z"
        }
      },
      "MovieSummary": {
        "type": "object",
        "required": [
          "id",
          "title",
          "director",
          "year",
          "genre",
          "rating"
        ],
        "properties": {
          "id": {
            "$ref": "#/components/schemas/Movie/properties/id"
          },
          "title": {
            "$ref": "#/components/schemas/Movie/properties/title"
          },
          "director": {
            "$ref": "#/components/schemas/Movie/properties/director"
          },
          "year": {
            "$ref": "#/components/schemas/Movie/properties/year"
          },
          "genre": {
            "$ref": "#/components/schemas/Movie/properties/genre"
          },
          "rating": {
            "$ref": "#/components/schemas/Movie/properties/rating"
          }
        }
      },
      "WatchlistItem": {
        "allOf": [
          {
            "$ref": "#/components/schemas/WatchlistEntry"
          },
          {
            "type": "object",
            "required": [
              "movie"
            ],
            "properties": {
              "movie": {
                "oneOf": [
                  {
                    "$ref": "#/components/schemas/MovieSummary"
                  },
                  {
                    "type": "null"
                  }
                ],
                "description": "null when the movie no longer exists."
              }
            }
          }
        ],
        "example": {
          "id": 1,
          "user_id": 1,
          "movie_id": 1,
          "added_at": "2026-11-25T16:22:49.502Z",
          "movie": {
            "id": 1,
            "title": "Inception",
            "director": "Christopher Nolan",
            "year": 2010,
            "genre": "Sci-Fi",
            "rating": 8.8
          }
        }
      },
      "ExportedMovie": {
        "allOf": [
          {
            "$ref": "#/components/schemas/Movie"
          },
          {
            "type": "object",
            "required": [
              "added_at"
            ],
            "properties": {
              "added_at": {
                "type": "string",
                "format": "date-time",
                "description": "RFC 3339, UTC with a `Z`."
              }
            }
          }
        ]
      },
      "WatchlistExport": {
        "type": "object",
        "required": [
          "user_id",
          "exported_at",
          "count",
          "movies",
          "missing_movie_ids"
        ],
        "properties": {
          "user_id": {
            "type": "integer",
            "format": "int64",
            "minimum": 1,
            "maximum": 9223372036854775807,
            "description": "The user."
          },
          "exported_at": {
            "type": "string",
            "format": "date-time",
            "description": "RFC 3339, UTC with a `Z`."
          },
          "count": {
            "type": "integer",
            "minimum": 0,
            "description": "How many movies this page exports."
          },
          "movies": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/ExportedMovie"
            }
          },
          "missing_movie_ids": {
            "type": "array",
            "items": {
              "type": "integer",
              "format": "int64",
              "minimum": 1,
              "maximum": 9223372036854775807,
              "description": "A movie that no longer exists."
            },
            "description": "Entries whose movie no longer exists."
          }
        },
        "example": {
          "user_id": 1,
          "exported_at": "2026-11-25T16:23:00.004Z",
          "count": 1,
          "movies": [
            {
              "id": 1,
              "title": "Inception",
              "director": "Christopher Nolan",
              "year": 2010,
              "genre": "Sci-Fi",
              "rating": 8.8,
              "created_at": "2026-11-25T16:22:48.031Z",
              "updated_at": "2026-11-25T16:22:48.031Z",
              "added_at": "2026-11-25T16:22:49.502Z"
            }
          ],
          "missing_movie_ids": []
        }
      },
      "WatchlistCheck": {
        "type": "object",
        "required": [
          "user_id",
          "movie_id",
          "in_watchlist",
          "entry_id",
          "added_at"
        ],
        "properties": {
          "user_id": {
            "type": "integer",
            "format": "int64",
            "minimum": 1,
            "maximum": 9223372036854775807,
            "description": "The user."
          },
          "movie_id": {
            "type": "integer",
            "format": "int64",
            "minimum": 1,
            "maximum": 9223372036854775807,
            "description": "The movie."
          },
          "in_watchlist": {
            "type": "boolean"
          },
          "entry_id": {
            "oneOf": [
              {
                "type": "integer",
                "format": "int64",
                "minimum": 1,
                "maximum": 9223372036854775807,
                "description": "The entry."
              },
              {
                "type": "null"
              }
            ]
          },
          "added_at": {
            "oneOf": [
              {
                "type": "string",
                "format": "date-time",
                "description": "RFC 3339, UTC with a `Z`."
              },
              {
                "type": "null"
              }
            ]
          }
        },
        "example": {
          "user_id": 1,
          "movie_id": 1,
          "in_watchlist": true,
          "entry_id": 1,
          "added_at": "2026-11-25T16:22:49.502Z"
        }
      },
      "Health": {
        "type": "object",
        "required": [
          "status",
          "service",
          "checks"
        ],
        "properties": {
          "status": {
            "type": "string",
            "enum": [
              "healthy",
              "unhealthy"
            ]
          },
          "service": {
            "type": "string"
          },
          "checks": {
            "type": "object",
            "additionalProperties": {
              "type": "string"
            },
            "description": "Check name (`database`, and `cache` for movies) to `ok` or `down`."
          }
        },
        "example": {
          "status": "healthy",
          "service": "movie-service",
          "checks": {
            "database": "ok",
            "cache": "ok"
          }
        }
      },
      "GatewayInfo": {
        "type": "object",
        "required": [
          "service",
          "status",
          "routes"
        ],
        "properties": {
          "service": {
            "const": "api-gateway"
          },
          "status": {
            "const": "ok"
          },
          "routes": {
            "type": "array",
            "items": {
              "type": "string"
            }
          }
        }
      },
      "GatewayHealth": {
        "type": "object",
        "required": [
          "status",
          "service"
        ],
        "properties": {
          "status": {
            "const": "ok"
          },
          "service": {
            "const": "api-gateway"
          }
        }
      }
    },
    "responses": {
      "BadRequest": {
        "description": "Malformed JSON, a body that is not a JSON object, or a request target the gateway will not forward (dot segments).",
        "headers": {
          "X-Request-ID": {
            "$ref": "#/components/headers/X-Request-ID"
          }
        },
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/HTTPError"
            },
            "example": {
              "detail": "Malformed JSON: unexpected end of input at byte 27"
            }
          }
        }
      },
      "Unauthorized": {
        "description": "A bearer token that is invalid, expired or revoked (always), or none where one is needed (`AUTH_REQUIRED=true`).",
        "headers": {
          "X-Request-ID": {
            "$ref": "#/components/headers/X-Request-ID"
          },
          "WWW-Authenticate": {
            "$ref": "#/components/headers/WWW-Authenticate"
          }
        },
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/HTTPError"
            },
            "example": {
              "detail": "Invalid or expired token"
            }
          }
        }
      },
      "Forbidden": {
        "description": "The caller may not do this: another user's data, or an admin-only operation.",
        "headers": {
          "X-Request-ID": {
            "$ref": "#/components/headers/X-Request-ID"
          }
        },
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/HTTPError"
            },
            "example": {
              "detail": "Not allowed to access another user's data"
            }
          }
        }
      },
      "UserNotFound": {
        "description": "No such user.",
        "headers": {
          "X-Request-ID": {
            "$ref": "#/components/headers/X-Request-ID"
          }
        },
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/HTTPError"
            },
            "example": {
              "detail": "User not found"
            }
          }
        }
      },
      "MovieNotFound": {
        "description": "No such movie.",
        "headers": {
          "X-Request-ID": {
            "$ref": "#/components/headers/X-Request-ID"
          }
        },
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/HTTPError"
            },
            "example": {
              "detail": "Movie not found"
            }
          }
        }
      },
      "EntryNotFound": {
        "description": "No such watchlist entry.",
        "headers": {
          "X-Request-ID": {
            "$ref": "#/components/headers/X-Request-ID"
          }
        },
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/HTTPError"
            },
            "example": {
              "detail": "Watchlist entry not found"
            }
          }
        }
      },
      "PayloadTooLarge": {
        "description": "The body is over the gateway's limit (`MAX_BODY_SIZE`, 1 MiB by default).",
        "headers": {
          "X-Request-ID": {
            "$ref": "#/components/headers/X-Request-ID"
          }
        },
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/HTTPError"
            },
            "example": {
              "detail": "Request body too large (limit 1048576 bytes)"
            }
          }
        }
      },
      "UnsupportedMediaType": {
        "description": "A body declared as something other than JSON.",
        "headers": {
          "X-Request-ID": {
            "$ref": "#/components/headers/X-Request-ID"
          }
        },
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/HTTPError"
            },
            "example": {
              "detail": "Content-Type must be application/json"
            }
          }
        }
      },
      "ValidationError": {
        "description": "Validation failed (FastAPI's list form): body fields, path or query parameters.",
        "headers": {
          "X-Request-ID": {
            "$ref": "#/components/headers/X-Request-ID"
          }
        },
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/ValidationErrorBody"
            },
            "example": {
              "detail": [
                {
                  "type": "string_too_short",
                  "loc": [
                    "body",
                    "name"
                  ],
                  "msg": "String should have at least 1 character",
                  "input": "",
                  "ctx": {
                    "min_length": 1
                  }
                }
              ]
            }
          }
        }
      },
      "TooManyRequests": {
        "description": "Over the gateway's rate limit for this client address (or, for login, too many failed attempts).",
        "headers": {
          "X-Request-ID": {
            "$ref": "#/components/headers/X-Request-ID"
          },
          "Retry-After": {
            "$ref": "#/components/headers/Retry-After"
          }
        },
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/HTTPError"
            },
            "example": {
              "detail": "Too many requests"
            }
          }
        }
      },
      "BadGateway": {
        "description": "The service behind this path cannot be reached, or answered something that is not HTTP (from the gateway), or a service this one called answered something unusable.",
        "headers": {
          "X-Request-ID": {
            "$ref": "#/components/headers/X-Request-ID"
          }
        },
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/HTTPError"
            },
            "example": {
              "detail": "Movie service unavailable"
            }
          }
        }
      },
      "ServiceUnavailable": {
        "description": "Unavailable for now, said in `detail`: a database is down (`Database unavailable`, answered within about `DB_QUERY_TIMEOUT`), a service this one needs is down (`User service unavailable`), or load: every pooled connection from the gateway to the service is busy and the gateway's queue for it is full or was waited in for `UPSTREAM_QUEUE_TIMEOUT` (`Movie service busy, retry later`, with `Retry-After: 1`; never a 502), or too many password checks are waiting (user service, with `Retry-After: 1`).",
        "headers": {
          "X-Request-ID": {
            "$ref": "#/components/headers/X-Request-ID"
          },
          "Retry-After": {
            "description": "Seconds to wait before trying again: `1` when the cause is load (the gateway's queue for the service, or the user service's password checks); absent when a dependency is down.",
            "required": false,
            "schema": {
              "type": "integer",
              "minimum": 1
            }
          }
        },
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/HTTPError"
            },
            "examples": {
              "databaseDown": {
                "summary": "PostgreSQL is down",
                "value": {
                  "detail": "Database unavailable"
                }
              },
              "gatewayBusy": {
                "summary": "The gateway's queue for the service is full (Retry-After: 1)",
                "value": {
                  "detail": "Movie service busy, retry later"
                }
              }
            }
          }
        }
      },
      "GatewayTimeout": {
        "description": "Not answered in time, said in `detail`: the database did not answer within `DB_QUERY_TIMEOUT` (`Database timeout`; the query is cancelled), a service this one called did not answer, or the gateway's upstream did not answer in time (`Movie service timed out`).",
        "headers": {
          "X-Request-ID": {
            "$ref": "#/components/headers/X-Request-ID"
          }
        },
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/HTTPError"
            },
            "examples": {
              "databaseTimeout": {
                "summary": "PostgreSQL did not answer in time",
                "value": {
                  "detail": "Database timeout"
                }
              },
              "upstreamTimeout": {
                "summary": "The service behind the gateway did not answer in time",
                "value": {
                  "detail": "Movie service timed out"
                }
              }
            }
          }
        }
      },
      "EmailTaken": {
        "description": "The email address is taken.",
        "headers": {
          "X-Request-ID": {
            "$ref": "#/components/headers/X-Request-ID"
          }
        },
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/HTTPError"
            },
            "example": {
              "detail": "Email already registered"
            }
          }
        }
      },
      "UserChangeForbidden": {
        "description": "Another user's record, or a wrong `current_password`.",
        "headers": {
          "X-Request-ID": {
            "$ref": "#/components/headers/X-Request-ID"
          }
        },
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/HTTPError"
            },
            "example": {
              "detail": "Current password is incorrect"
            }
          }
        }
      },
      "MovieWriteForbidden": {
        "description": "Movie writes need an admin when a caller is known.",
        "headers": {
          "X-Request-ID": {
            "$ref": "#/components/headers/X-Request-ID"
          }
        },
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/HTTPError"
            },
            "example": {
              "detail": "Admin privileges required"
            }
          }
        }
      },
      "UserChanged": {
        "description": "The changed user.",
        "headers": {
          "X-Request-ID": {
            "$ref": "#/components/headers/X-Request-ID"
          }
        },
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/User"
            },
            "example": {
              "id": 1,
              "name": "Alice",
              "email": "alice@example.com",
              "role": "user",
              "created_at": "2026-11-25T16:22:47.120Z",
              "updated_at": "2026-11-25T16:22:47.120Z"
            }
          }
        }
      },
      "MovieChanged": {
        "description": "The changed movie.",
        "headers": {
          "X-Request-ID": {
            "$ref": "#/components/headers/X-Request-ID"
          },
          "ETag": {
            "$ref": "#/components/headers/ETag"
          }
        },
        "content": {
          "application/json": {
            "schema": {
              "$ref": "#/components/schemas/Movie"
            },
            "example": {
              "id": 1,
              "title": "Inception",
              "director": "Christopher Nolan",
              "year": 2010,
              "genre": "Sci-Fi",
              "rating": 8.8,
              "created_at": "2026-11-25T16:22:48.031Z",
              "updated_at": "2026-11-25T16:22:48.031Z"
            }
          }
        }
      }
    },
    "parameters": {
      "Idempotency-Key": {
        "name": "Idempotency-Key",
        "in": "header",
        "required": false,
        "description": "Makes the create safe to send again (IETF draft \"The Idempotency-Key HTTP Header Field\"): a second request with the key, from the same caller with the same body, is answered 201 with what the first created (as it is now, with `Idempotent-Replayed: true`) instead of creating again or answering 409; one running at the same moment waits for the first. The key from another caller or with another body: 422. Keys are kept 24 hours. The gateway adds a random one when none is sent. 1 to 255 printable ASCII characters.",
        "schema": {
          "type": "string",
          "minLength": 1,
          "maxLength": 255,
          "pattern": "^[!-~]([ -~]*[!-~])?$"
        },
        "example": "5f0c2e9a-4b1d-4a7e-9a59-3f7f0d2c8b11"
      },
      "limit": {
        "name": "limit",
        "in": "query",
        "required": false,
        "description": "Page size.",
        "schema": {
          "type": "integer",
          "minimum": 1,
          "maximum": 1000,
          "default": 100
        }
      },
      "offset": {
        "name": "offset",
        "in": "query",
        "required": false,
        "description": "Items to skip.",
        "schema": {
          "type": "integer",
          "minimum": 0,
          "maximum": 2199023254528,
          "default": 0
        }
      },
      "user_id": {
        "name": "user_id",
        "in": "path",
        "required": true,
        "schema": {
          "type": "integer",
          "format": "int64",
          "minimum": 1,
          "maximum": 9223372036854775807,
          "description": "A user's id."
        },
        "example": 1
      },
      "movie_id": {
        "name": "movie_id",
        "in": "path",
        "required": true,
        "schema": {
          "type": "integer",
          "format": "int64",
          "minimum": 1,
          "maximum": 9223372036854775807,
          "description": "A movie's id."
        },
        "example": 1
      },
      "entry_id": {
        "name": "entry_id",
        "in": "path",
        "required": true,
        "schema": {
          "type": "integer",
          "format": "int64",
          "minimum": 1,
          "maximum": 9223372036854775807,
          "description": "A watchlist entry's id."
        },
        "example": 1
      }
    },
    "headers": {
      "X-Request-ID": {
        "description": "The request's id: the client's own when it sent a sane one (1-128 characters of letters, digits and `-_.:`), else a new one. Every response carries it.",
        "required": true,
        "schema": {
          "type": "string",
          "minLength": 1
        }
      },
      "X-Total-Count": {
        "description": "How many items the whole list has, beyond this page.",
        "required": true,
        "schema": {
          "type": "integer",
          "minimum": 0
        }
      },
      "ETag": {
        "description": "Strong validator of this version of the movie: `\"<id>-<version>\"`.",
        "required": true,
        "schema": {
          "type": "string",
          "pattern": "^\"[0-9]+-[0-9]+\"$"
        }
      },
      "X-Cache": {
        "description": "Whether the movie service answered from Redis (`HIT`, a negative or tombstone entry included) or from PostgreSQL (`MISS`).",
        "required": true,
        "schema": {
          "type": "string",
          "enum": [
            "HIT",
            "MISS"
          ]
        }
      },
      "Retry-After": {
        "description": "Seconds to wait before trying again.",
        "required": true,
        "schema": {
          "type": "integer",
          "minimum": 1
        }
      },
      "Location": {
        "description": "Path of the created resource.",
        "required": true,
        "schema": {
          "type": "string"
        }
      },
      "WWW-Authenticate": {
        "description": "`Bearer`.",
        "required": true,
        "schema": {
          "type": "string"
        }
      }
    },
    "securitySchemes": {
      "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A token from `POST /api/auth/login`."
      }
    }
  }
}
"""#
}
