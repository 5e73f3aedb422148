package clave

import "net/http"

// apiRoutes mounts the gateway's APIs for services' own apps.
func (g *Gateway) apiRoutes(mux *http.ServeMux) {}
