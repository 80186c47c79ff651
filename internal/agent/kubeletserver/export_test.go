package kubeletserver

import "github.com/skiff-sh/skiff/internal/pki"

// The root test (root_test.go) runs in package kubeletserver_test: it
// drives a real node through internal/agent/cri, which imports this
// package. These give it the in-package test server.

type TestCluster = testCluster

var StartTestServer = startTestServer

func (c *testCluster) URL() string            { return c.url }
func (c *testCluster) CA() *pki.Bundle        { return c.ca }
func (c *testCluster) ServingCertDER() []byte { return c.server.cfg.ServingCert.Certificate[0] }
