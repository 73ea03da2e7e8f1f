module github.com/wsgate/wsgate/examples/chat

go 1.26.0

require (
	github.com/coder/websocket v1.8.15
	github.com/golang-jwt/jwt/v5 v5.3.1
	github.com/wsgate/wsgate v0.0.0
	github.com/wsgate/wsgate/redisbroker v0.0.0
)

replace (
	github.com/wsgate/wsgate => ../..
	github.com/wsgate/wsgate/redisbroker => ../../redisbroker
)
