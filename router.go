package wsgate

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"reflect"
	"strings"
)

// HandlerFunc handles one event. Its result is the ack's data when the
// message carries an id, and is discarded otherwise. A returned error goes
// through the filter chain.
//
// HandlerFunc is the raw form: it reads the payload itself from c.Data. Use
// On to bind the payload into a Go type.
type HandlerFunc func(c *Context) (any, error)

// HandlerOptions configure one handler: what NestJS says with @UseGuards,
// @UseFilters and metadata decorators. They are passed by value, as every
// options struct of the package is; the zero value means none.
type HandlerOptions struct {
	// Guards run after the gateway's guards, in order.
	Guards []Guard
	// Filters run before the gateway's filters, in order.
	Filters []Filter
	// Public marks the handler as reachable without authentication: the
	// Authenticated guard lets its requests through, as NestJS's
	// IS_PUBLIC_KEY metadata lets a handler skip the JWT guard.
	//
	// Public alone does nothing for a visitor without a token. With an
	// Authenticator, such a visitor is refused at the handshake (401)
	// unless Options.AllowAnonymous is set; Public only decides, for a
	// connection the gateway has admitted, whether Authenticated may skip
	// it. A public event for visitors takes all three: AllowAnonymous on
	// the gateway, the Authenticated guard, and Public on the handler.
	// Without AllowAnonymous, Public still lets a connection whose token
	// has expired (and not yet been closed with 4001) through
	// Authenticated; Handle logs such a handler (at Info when its chain
	// has guards, as a warning when it has none and Public does nothing).
	Public bool
	// Metadata is read by guards through Context.Metadata, the way NestJS
	// guards read handler metadata through the Reflector.
	Metadata map[string]any
}

// Validator is implemented by input types that check themselves. On calls
// Validate after binding and before the handler, whether the method has a
// value receiver or a pointer receiver (func (in *Input) Validate() error
// is found for an input of type Input). A failure is a client error, never
// an internal one:
//
//   - a *ValidationError is answered VALIDATION_FAILED with its fields in
//     the error's data: {"fields":[{"field":"name","message":"required"}]};
//   - an *Error (or ErrForbidden, ErrUnauthorized) is answered as it is;
//   - any other error is answered VALIDATION_FAILED with the error's text
//     as the message, so it must not hold internal detail.
type Validator interface {
	Validate() error
}

// route is a registered handler with its chains resolved once, at
// registration, so that dispatch does no work to assemble them.
type route struct {
	name    string
	handler HandlerFunc
	opts    HandlerOptions
	guards  []Guard  // gateway guards, then handler guards
	filters []Filter // handler filters, then gateway filters
}

// Handle registers h for event, with opts (HandlerOptions{} for none). It
// panics if the event is already registered, or its name is empty, longer
// than 128 bytes, holds a control character, or begins with "$" (reserved
// for the protocol), as http.ServeMux does for a bad pattern: these are
// programming errors, and such a name could never arrive in an envelope.
// Handlers may be registered while the gateway serves.
//
// A handler marked Public on a gateway that has an Authenticator but not
// AllowAnonymous can never be reached by a visitor without a token; Handle
// logs a warning through Options.Logger (see HandlerOptions.Public).
func (g *Gateway) Handle(event string, h HandlerFunc, opts HandlerOptions) {
	if h == nil {
		panic("wsgate: nil handler for event " + event)
	}
	if err := checkEventName(event); err != nil {
		panic(err)
	}
	r := &route{name: event, handler: h, opts: opts}
	r.guards = concat(g.opts.Guards, r.opts.Guards)
	r.filters = concat(r.opts.Filters, g.opts.Filters)
	g.register(r)

	if opts.Public && g.opts.Authenticator != nil && !g.opts.AllowAnonymous {
		// Public can never let a visitor without a token in here. With
		// guards in its chain it still lets a principal whose token has
		// expired through Authenticated, which may be what is meant: say
		// so at Info. With none it does nothing at all: a Warning.
		level := slog.LevelWarn
		if len(r.guards) > 0 {
			level = slog.LevelInfo
		}
		g.log.Log(context.Background(), level, "wsgate: handler is Public, but the gateway admits no connection without a token "+
			"(an Authenticator without AllowAnonymous): Public here only lets a principal whose token has expired through Authenticated; "+
			"set Options.AllowAnonymous to serve visitors without a token",
			slog.String("event", event))
	}
}

// register adds r to the routing table, which is copied on write so that
// dispatch reads it without a lock. It panics if the event is registered
// already.
func (g *Gateway) register(r *route) {
	g.routesMu.Lock()
	defer g.routesMu.Unlock()
	old := *g.routes.Load()
	if _, dup := old[r.name]; dup {
		panic("wsgate: event " + r.name + " registered twice")
	}
	next := make(map[string]*route, len(old)+1)
	for k, v := range old {
		next[k] = v
	}
	next[r.name] = r
	g.routes.Store(&next)
}

// On registers a typed handler for event: the message's data is decoded
// into In with encoding/json (absent data leaves In its zero value), checked
// by In's Validate method if it has one (see Validator; for a pointer In
// left nil, on the zero value it points to), and the handler's Out is the
// ack. Data that does not decode is answered with INVALID_DATA. See Handle
// for the rules on event names.
//
// An event with no input takes struct{}: absent data, null and any JSON
// object are accepted and ignored (other JSON is INVALID_DATA). One with no
// result returns struct{}{}, acked as {}, or a nil pointer, acked as null:
//
//	wsgate.On(gw, "ping", func(c *wsgate.Context, _ struct{}) (string, error) {
//		return "pong", nil
//	}, wsgate.HandlerOptions{})
func On[In, Out any](g *Gateway, event string, fn func(c *Context, in In) (Out, error), opts HandlerOptions) {
	g.Handle(event, Bind(fn), opts)
}

// Bind adapts a typed handler into a HandlerFunc, as On does.
func Bind[In, Out any](fn func(c *Context, in In) (Out, error)) HandlerFunc {
	byValue := mayValidateByValue[In]()
	return func(c *Context) (any, error) {
		var in In
		if len(c.data) > 0 {
			if err := json.Unmarshal(c.data, &in); err != nil {
				return nil, invalidData(err)
			}
		}
		if err := validate(&in, byValue); err != nil {
			return nil, err
		}
		return fn(c, in)
	}
}

// mayValidateByValue reports whether a value of type In itself may be a
// Validator when *In is not: only when In is a pointer (its target's
// methods) or an interface (its dynamic value's). For any other type the
// method set of *In holds that of In, so validate need not box the value to
// look (an allocation per event, for a struct input).
func mayValidateByValue[In any]() bool {
	switch reflect.TypeFor[In]().Kind() {
	case reflect.Pointer, reflect.Interface:
		return true
	}
	return false
}

// validate calls Validate on in (or on the value it points to) if the type
// has the method; byValue is mayValidateByValue[In]().
func validate[In any](in *In, byValue bool) error {
	var v Validator
	switch x := any(in).(type) {
	case Validator:
		v = x
	default:
		if !byValue {
			break
		}
		if y, ok := any(*in).(Validator); ok {
			v = y
		}
	}
	if v == nil {
		return nil
	}
	if rv := reflect.ValueOf(v); rv.Kind() == reflect.Pointer && rv.IsNil() {
		// A pointer input that absent or null data left nil: validate
		// the zero value it would point to instead of calling a method on
		// nil (a panic, for a value receiver). The handler still gets nil.
		zero, ok := reflect.New(rv.Type().Elem()).Interface().(Validator)
		if !ok {
			return nil
		}
		v = zero
	}
	err := v.Validate()
	if err == nil {
		return nil
	}
	if e, ok := asError(err); ok {
		return e
	}
	var fields *ValidationError
	if errors.As(err, &fields) && len(fields.Fields) > 0 {
		return &Error{Code: CodeValidationFailed, Message: fields.Error(), Data: fields, Err: err}
	}
	return &Error{Code: CodeValidationFailed, Message: err.Error(), Err: err}
}

// invalidData turns a decoding error into a client error that names the
// offending field, when there is one, and nothing of the Go types.
func invalidData(err error) *Error {
	e := &Error{Code: CodeInvalidData, Message: "invalid data", Err: err}
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field != "" {
		e.Data = map[string]string{"field": te.Field, "expected": jsonKind(te.Type.Kind().String())}
	}
	return e
}

// jsonKind names a Go kind the way a JSON client thinks of it.
func jsonKind(kind string) string {
	switch {
	case strings.HasPrefix(kind, "int"), strings.HasPrefix(kind, "uint"), strings.HasPrefix(kind, "float"):
		return "number"
	case kind == "bool":
		return "boolean"
	case kind == "slice", kind == "array":
		return "array"
	case kind == "struct", kind == "map":
		return "object"
	}
	return kind
}

func checkEventName(event string) error {
	switch {
	case event == "":
		return errors.New("wsgate: empty event name")
	case len(event) > maxEventLen:
		return fmt.Errorf("wsgate: event name longer than %d bytes", maxEventLen)
	case hasControl([]byte(event)):
		return fmt.Errorf("wsgate: event %q: names may not hold control characters", event)
	case event[0] == '$':
		return fmt.Errorf("wsgate: event %q: names beginning with $ are reserved", event)
	}
	return nil
}

// concat returns a new slice holding a then b, so that later appends to
// either cannot alias the other.
func concat[T any](a, b []T) []T {
	out := make([]T, 0, len(a)+len(b))
	return append(append(out, a...), b...)
}
