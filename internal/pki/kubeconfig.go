package pki

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"net"
	"strconv"
	"strings"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// serverURL is where a client on this machine reaches the API server: the
// bind address, or loopback when the server listens on all interfaces or on
// loopback anyway.
func serverURL(opts Options) string {
	host := strings.TrimSpace(opts.BindAddress)
	if ip := net.ParseIP(host); host == "" || ip != nil && (ip.IsUnspecified() || ip.IsLoopback()) {
		host = "127.0.0.1"
	}
	return "https://" + net.JoinHostPort(host, strconv.Itoa(opts.Port))
}

// adminKubeconfig builds the admin kubeconfig with everything embedded, so
// the file can be copied to another machine as is.
func adminKubeconfig(server string, caPEM, certPEM, keyPEM []byte) clientcmdapi.Config {
	cfg := clientcmdapi.NewConfig()
	cluster := clientcmdapi.NewCluster()
	cluster.Server = server
	cluster.CertificateAuthorityData = caPEM
	cfg.Clusters[ClusterName] = cluster

	user := clientcmdapi.NewAuthInfo()
	user.ClientCertificateData = certPEM
	user.ClientKeyData = keyPEM
	cfg.AuthInfos[AdminUser] = user

	ctx := clientcmdapi.NewContext()
	ctx.Cluster = ClusterName
	ctx.AuthInfo = AdminUser
	cfg.Contexts[ClusterName] = ctx
	cfg.CurrentContext = ClusterName
	return *cfg
}

// writeKubeconfig writes the admin kubeconfig when its contents change. It
// serialises with clientcmd.Write (what clientcmd.WriteToFile uses) and
// writes through writeFileAtomic, because WriteToFile writes in place and a
// crash mid-write would leave a truncated kubeconfig.
func writeKubeconfig(path, server string, caPEM, certPEM, keyPEM []byte) error {
	data, err := clientcmd.Write(adminKubeconfig(server, caPEM, certPEM, keyPEM))
	if err != nil {
		return fmt.Errorf("pki: encode kubeconfig: %w", err)
	}
	old, err := readFile(path)
	if err == nil && bytes.Equal(old, data) {
		return nil
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("pki: %w", err)
	}
	return writeFileAtomic(path, data, keyMode)
}
