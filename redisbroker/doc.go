// Package redisbroker is a wsgate.Broker on Redis streams: it carries a
// gateway's room, subject and everyone emits and disconnects to the other
// gateway processes of a deployment, and loses nothing it accepted.
//
//	rdb := redis.NewClient(&redis.Options{Addr: "127.0.0.1:6379"})
//	b, err := redisbroker.New(rdb, redisbroker.Options{Prefix: "chat"})
//	if err != nil { … }
//	defer b.Close()
//	gw, err := wsgate.New(wsgate.Options{Broker: b, …})
//
// # Key layout
//
// A Broker uses two Redis keys: the stream "{<Prefix>}:fanout" and the
// string "{<Prefix>}:epoch", which names the stream's generation so that
// readers notice a Redis that lost its data. Prefix defaults to "wsgate":
// several applications share one Redis by choosing different prefixes,
// and every process of one application uses the same. The braces keep
// both keys in one Redis Cluster slot. The keys belong to the Broker:
// nothing else may write to them.
//
// # How it works
//
// Publish encodes the message (compact JSON, plus the publisher's random
// id and a per-publisher sequence number), appends it to an in-memory
// queue and returns; one goroutine sends the queue in order with XADD,
// batches in MULTI/EXEC, trimming the stream with MAXLEN ~ Options.MaxLen.
// Entry ids are "0-<n>": Redis numbers the entries 1, 2, 3… itself, so a
// reader knows exactly how many entries it missed when the stream was
// trimmed past its position.
//
// One reader per process (not one per room) follows the stream with
// XREAD BLOCK from the last id it read, skips its own publications and
// duplicates (a batch whose reply was lost is sent again; the sequence
// numbers tell the copies apart), and hands every other message to the
// gateway, in each publisher's order.
//
// # What it guarantees, and what it reports
//
//   - A process whose link to Redis drops catches up, when the link is back,
//     on everything the others published meanwhile, as long as the stream
//     still holds it: at least Options.MaxLen entries (all processes
//     together) are kept. An entry trimmed before this process read it is
//     reported: a log line, Stats.Gaps and Stats.Missed, and
//     Options.OnGap.
//   - A process that cannot reach Redis keeps its own publications, up to
//     Options.BufferSize of them, and sends them in order when Redis is back;
//     Publish returns nil meanwhile. A full buffer makes Publish fail with
//     ErrBufferFull (logged, and counted in Stats.Refused). Close waits up to
//     Options.CloseTimeout for the buffer to drain and reports what it had to
//     drop.
//   - A Redis that restarts with all its data (appendonly with appendfsync
//     always) changes nothing: every message is delivered once, in each
//     publisher's order. A Redis that lost its data, or came back from an
//     older copy (an RDB file, an AOF that missed its last second), or a
//     deleted key, is noticed before the reader takes an entry of the new
//     stream for one of the old: with every XREAD, on the same connection,
//     the reader reads the stream's generation (the epoch key) and the
//     entry at its position. It then reads the new stream from its
//     beginning and reports the reset like a gap (Gap.Reset): what the old
//     stream held unread is gone. Copies of messages it delivered before are
//     still skipped.
//
// Redis 7.0 or later is required (ids of the form "0-*"). The reader's
// XREAD blocks for half a second, in a pipeline that go-redis bounds by
// the client's ReadTimeout: keep that above half a second (the default is
// 3 s).
package redisbroker
