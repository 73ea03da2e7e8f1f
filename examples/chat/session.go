package main

import (
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/wsgate/wsgate"
)

// The session: a JWT in the access_token cookie, the gateway's default
// token source.
const (
	tokenCookie   = wsgate.DefaultTokenCookie
	tokenLifetime = time.Hour
	tokenIssuer   = "wsgate-chat"
	tokenAudience = "wsgate-chat"
	// maxFormBytes bounds the body of /login and /logout: a name is at
	// most 32 bytes.
	maxFormBytes = 4 << 10
	// logoutReason is the close reason of the connections a logout ends.
	logoutReason = "logged out"
)

// apiError is a refusal of /login or /logout, answered as the gateway
// answers a refused handshake: a status and a JSON body.
type apiError struct {
	status  int
	code    string
	message string
}

var (
	errBadName        = &apiError{http.StatusBadRequest, wsgate.CodeValidationFailed, "name must be 1 to 32 of A-Z a-z 0-9 _ -"}
	errBadForm        = &apiError{http.StatusBadRequest, wsgate.CodeBadRequest, "malformed form"}
	errFormTooLarge   = &apiError{http.StatusRequestEntityTooLarge, wsgate.CodeBadRequest, "form too large"}
	errMissingToken   = &apiError{http.StatusUnauthorized, wsgate.CodeUnauthorized, "missing token"}
	errAmbiguousToken = &apiError{http.StatusUnauthorized, wsgate.CodeUnauthorized, "ambiguous token"}
	errInvalidToken   = &apiError{http.StatusUnauthorized, wsgate.CodeUnauthorized, "invalid token"}
	errNotLoggedOut   = &apiError{http.StatusServiceUnavailable, wsgate.CodeUnavailable, "not every server could be reached; try again"}
	errInternal       = &apiError{http.StatusInternalServerError, wsgate.CodeInternal, "Internal server error"}
)

func writeError(w http.ResponseWriter, e *apiError) {
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	h.Set("X-Content-Type-Options", "nosniff")
	switch e.status {
	case http.StatusUnauthorized:
		h.Set("WWW-Authenticate", `Bearer realm="chat"`)
	case http.StatusServiceUnavailable:
		h.Set("Retry-After", "5")
	}
	body, _ := json.Marshal(struct {
		Status  string `json:"status"`
		Message string `json:"message"`
		Code    string `json:"code"`
	}{"error", e.message, e.code})
	w.WriteHeader(e.status)
	w.Write(append(body, '\n'))
}

// post checks what /login and /logout have in common: the method, then
// the origin, before anything else of the request is read. A page of
// another site can post a form here with the user's cookies; only the
// Origin header tells, and browsers send it with every POST.
func (c *chat) post(w http.ResponseWriter, r *http.Request) bool {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		writeError(w, &apiError{http.StatusMethodNotAllowed, wsgate.CodeBadRequest, "method not allowed; use POST"})
		return false
	}
	// The gateway's own origin policy, as its handshake applies it: a
	// missing Origin, several, "null" or another site's are refused.
	if err := c.gw.CheckOrigin(r); err != nil {
		var ge *wsgate.Error
		if !errors.As(err, &ge) {
			ge = &wsgate.Error{Status: http.StatusForbidden, Code: wsgate.CodeOriginNotAllowed, Message: "origin not allowed"}
		}
		writeError(w, &apiError{ge.Status, ge.Code, ge.Message})
		return false
	}
	w.Header().Set("Cache-Control", "no-store")
	return true
}

// login signs the user in under the posted name: a session token in the
// access_token cookie.
func (c *chat) login(w http.ResponseWriter, r *http.Request) {
	if !c.post(w, r) {
		return
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBytes)
	// ParseMultipartForm alone would drop the errors of an urlencoded
	// body: parse that first.
	err := r.ParseForm()
	if err == nil {
		if err = r.ParseMultipartForm(maxFormBytes); errors.Is(err, http.ErrNotMultipart) {
			err = nil
		}
	}
	if err != nil {
		if _, ok := errors.AsType[*http.MaxBytesError](err); ok {
			writeError(w, errFormTooLarge)
		} else {
			writeError(w, errBadForm)
		}
		return
	}
	names := r.PostForm["name"] // the body's, never the query string's
	if len(names) != 1 || !validName(names[0], maxNameLen) {
		writeError(w, errBadName)
		return
	}
	now := time.Now()
	token, err := jwt.NewWithClaims(jwt.SigningMethodHS256, jwt.RegisteredClaims{
		Subject:   names[0],
		Issuer:    tokenIssuer,
		Audience:  jwt.ClaimStrings{tokenAudience},
		IssuedAt:  jwt.NewNumericDate(now),
		ExpiresAt: jwt.NewNumericDate(now.Add(tokenLifetime)),
	}).SignedString(c.cfg.secret)
	if err != nil {
		c.log.Error("login: signing the token", "error", err)
		writeError(w, errInternal)
		return
	}
	http.SetCookie(w, c.cookie(r, token, int(tokenLifetime/time.Second)))
	w.WriteHeader(http.StatusNoContent)
	c.log.Info("login", "sub", names[0])
}

// logout ends the session of the cookie's user: every connection of that
// user, on every process, is closed with 1008 "logged out", and the cookie
// is cleared. Without a valid token it answers 401 and clears the cookie
// all the same. When the other processes cannot be told (the Broker
// refused: Redis unreachable for long), it answers 503 and keeps the
// cookie, so that the page can try again.
func (c *chat) logout(w http.ResponseWriter, r *http.Request) {
	if !c.post(w, r) {
		return
	}
	token, refusal := sessionToken(r)
	var sub string
	if refusal == nil {
		p, err := c.verifier.Authenticate(r.Context(), token)
		if err != nil {
			refusal = errInvalidToken
		} else {
			sub = p.Subject
		}
	}
	if refusal != nil {
		http.SetCookie(w, c.cookie(r, "", -1))
		writeError(w, refusal)
		return
	}
	if err := c.gw.ToSubject(sub).Disconnect(wsgate.StatusPolicyViolation, logoutReason); err != nil {
		c.log.Error("logout: not sent to the other processes", "sub", sub, "error", err)
		writeError(w, errNotLoggedOut)
		return
	}
	http.SetCookie(w, c.cookie(r, "", -1))
	w.WriteHeader(http.StatusNoContent)
	c.log.Info("logout", "sub", sub)
}

// sessionToken returns the request's access_token cookie. Two of them (a
// sibling subdomain can plant a second) are refused, as the gateway does.
func sessionToken(r *http.Request) (string, *apiError) {
	cookies := r.CookiesNamed(tokenCookie)
	switch {
	case len(cookies) == 0 || cookies[0].Value == "":
		return "", errMissingToken
	case len(cookies) > 1:
		return "", errAmbiguousToken
	}
	return cookies[0].Value, nil
}

// cookie is the session cookie holding value; maxAge -1 clears it.
// HttpOnly keeps it from scripts, SameSite=Lax from cross-site
// subrequests, and Secure (over TLS, or when the front end is https, as
// behind a proxy that ends TLS) from plain HTTP.
func (c *chat) cookie(r *http.Request, value string, maxAge int) *http.Cookie {
	return &http.Cookie{
		Name:     tokenCookie,
		Value:    value,
		Path:     "/",
		MaxAge:   maxAge,
		HttpOnly: true,
		SameSite: http.SameSiteLaxMode,
		Secure:   r.TLS != nil || strings.HasPrefix(c.cfg.frontendHost, "https://"),
	}
}
