package socket_test

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"path/filepath"
	"time"

	"github.com/zmqflow/zmqflow/socket"
)

// A key pair, its public key in Z85 (what a server hands its clients), and
// a certificate pair on disk, as CZMQ and pyzmq's zmq.auth write them.
func ExampleNewCurveKeyPair() {
	kp, err := socket.NewCurveKeyPair()
	if err != nil {
		log.Fatal(err)
	}
	text := kp.Public.String()
	back, err := socket.ParseCurveKey(text)
	fmt.Println(len(text), back == kp.Public, err)

	dir, err := os.MkdirTemp("", "certs")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "server.key")
	if err := socket.SaveCurveCert(path, socket.CurveCert{Public: kp.Public, Secret: kp.Secret}); err != nil {
		log.Fatal(err)
	}
	public, _ := socket.LoadCurveCert(path)             // for the clients
	secret, _ := socket.LoadCurveCert(path + "_secret") // for the server
	loaded, err := secret.KeyPair()
	fmt.Println(public.Public == kp.Public, public.Secret.IsZero(), loaded == kp, err)
	// Output:
	// 40 true <nil>
	// true true true <nil>
}

// A CURVE server and client: the client knows the server's public key,
// everything between them is encrypted, and a client with a wrong server
// key gets nothing through. The keys here are libzmq's test keys.
func ExampleWithCurveServer() {
	serverSecret, _ := socket.ParseCurveKey("JTKVSB%%)wK0E.X)V>+}o?pNmC{O&4W4b!Ni{Lh6")
	serverPublic, _ := socket.ParseCurveKey("rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7")
	server, err := socket.New(socket.Pull, socket.WithCurveServer(serverSecret))
	if err != nil {
		log.Fatal(err)
	}
	defer server.Close()
	ep, err := server.Bind("tcp://127.0.0.1:*")
	if err != nil {
		log.Fatal(err)
	}

	clientKeys, err := socket.NewCurveKeyPair()
	if err != nil {
		log.Fatal(err)
	}
	client, err := socket.New(socket.Push, socket.WithCurveClient(serverPublic, clientKeys))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	if err := client.Connect(ep); err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.Send(ctx, socket.NewMsgString("secret", "plans")); err != nil {
		log.Fatal(err)
	}
	m, err := server.Recv(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m)

	// The wrong server key: the server cannot open the client's HELLO.
	events := server.Monitor()
	wrong, err := socket.New(socket.Push, socket.WithCurveClient(clientKeys.Public, clientKeys), socket.WithLinger(0))
	if err != nil {
		log.Fatal(err)
	}
	defer wrong.Close()
	if err := wrong.Connect(ep); err != nil {
		log.Fatal(err)
	}
	for e := range events {
		if e.Kind == socket.EventHandshakeFailed {
			fmt.Println("refused:", errors.Is(e.Err, socket.ErrCurve))
			break
		}
	}
	// Output:
	// ["secret" | "plans"]
	// refused: true
}

// A CURVE server that admits only the clients whose certificates are in a
// directory; any other client is refused (ErrAuth on both sides) and stops
// redialling.
func ExampleAllowCurveKeysIn() {
	dir, err := os.MkdirTemp("", "clients")
	if err != nil {
		log.Fatal(err)
	}
	defer os.RemoveAll(dir)
	alice, _ := socket.NewCurveKeyPair()
	if err := socket.SaveCurveCert(filepath.Join(dir, "alice.key"), socket.CurveCert{Public: alice.Public}); err != nil {
		log.Fatal(err)
	}
	allow, err := socket.AllowCurveKeysIn(dir) // reads the directory now, once
	if err != nil {
		log.Fatal(err)
	}
	serverKeys, _ := socket.NewCurveKeyPair()
	server, err := socket.New(socket.Pull, socket.WithCurveServer(serverKeys.Secret), socket.WithCurveAuthenticator(allow))
	if err != nil {
		log.Fatal(err)
	}
	defer server.Close()
	ep, err := server.Bind("tcp://127.0.0.1:*")
	if err != nil {
		log.Fatal(err)
	}

	mallory, _ := socket.NewCurveKeyPair()
	intruder, err := socket.New(socket.Push, socket.WithCurveClient(serverKeys.Public, mallory))
	if err != nil {
		log.Fatal(err)
	}
	defer intruder.Close()
	events := intruder.Monitor()
	if err := intruder.Connect(ep); err != nil {
		log.Fatal(err)
	}
	for e := range events {
		if e.Kind == socket.EventClosed {
			fmt.Println("mallory refused:", errors.Is(e.Err, socket.ErrAuth))
			break
		}
	}

	client, err := socket.New(socket.Push, socket.WithCurveClient(serverKeys.Public, alice))
	if err != nil {
		log.Fatal(err)
	}
	defer client.Close()
	if err := client.Connect(ep); err != nil {
		log.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := client.Send(ctx, socket.NewMsgString("from alice")); err != nil {
		log.Fatal(err)
	}
	m, err := server.Recv(ctx)
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println(m)
	// Output:
	// mallory refused: true
	// ["from alice"]
}
