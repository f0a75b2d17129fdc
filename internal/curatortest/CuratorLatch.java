// CuratorLatch drives an Apache Curator LeaderLatch from line commands on
// stdin, answering one line per command on stdout ("OK ..." or "ERR ...").
// Used by package curatortest; compiled at test time.
//
// Usage: java CuratorLatch <connectString> <latchPath> <participantId>
import java.io.BufferedReader;
import java.io.FileDescriptor;
import java.io.FileOutputStream;
import java.io.InputStreamReader;
import java.io.PrintStream;
import java.nio.charset.StandardCharsets;
import java.util.concurrent.TimeUnit;

import org.apache.curator.framework.CuratorFramework;
import org.apache.curator.framework.CuratorFrameworkFactory;
import org.apache.curator.framework.recipes.leader.LeaderLatch;
import org.apache.curator.framework.recipes.leader.Participant;
import org.apache.curator.retry.ExponentialBackoffRetry;

public class CuratorLatch {
    public static void main(String[] args) throws Exception {
        if (args.length != 3) {
            System.err.println("usage: CuratorLatch <connectString> <latchPath> <participantId>");
            System.exit(2);
        }
        String connect = args[0], path = args[1], id = args[2];
        PrintStream out = new PrintStream(new FileOutputStream(FileDescriptor.out), true, "UTF-8");
        System.setOut(System.err); // keep stray output away from the protocol

        CuratorFramework client = CuratorFrameworkFactory.builder()
                .connectString(connect)
                .sessionTimeoutMs(5000)
                .connectionTimeoutMs(5000)
                .retryPolicy(new ExponentialBackoffRetry(100, 10, 1000))
                .build();
        client.start();
        if (!client.blockUntilConnected(60, TimeUnit.SECONDS)) {
            out.println("ERR not connected to " + connect);
            client.close();
            System.exit(1);
        }
        out.println("READY");

        LeaderLatch latch = null;
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in, StandardCharsets.UTF_8));
        String line;
        while ((line = in.readLine()) != null) {
            line = line.trim();
            if (line.isEmpty()) {
                continue;
            }
            String[] parts = line.split("\\s+");
            try {
                switch (parts[0]) {
                case "join":
                    if (latch != null) {
                        out.println("ERR already joined");
                        break;
                    }
                    latch = new LeaderLatch(client, path, id);
                    latch.start();
                    out.println("OK");
                    break;
                case "leader": {
                    LeaderLatch l = latch != null ? latch : new LeaderLatch(client, path, id);
                    Participant p = l.getLeader();
                    out.println("OK " + (p == null ? "" : p.getId()));
                    break;
                }
                case "isleader":
                    out.println("OK " + (latch != null && latch.hasLeadership()));
                    break;
                case "await": {
                    if (latch == null) {
                        out.println("ERR not joined");
                        break;
                    }
                    long ms = parts.length > 1 ? Long.parseLong(parts[1]) : 0;
                    out.println("OK " + latch.await(ms, TimeUnit.MILLISECONDS));
                    break;
                }
                case "leave":
                    if (latch != null) {
                        latch.close();
                        latch = null;
                    }
                    out.println("OK");
                    break;
                case "quit":
                    if (latch != null) {
                        latch.close();
                    }
                    client.close();
                    out.println("OK");
                    System.exit(0);
                    break;
                default:
                    out.println("ERR unknown command " + parts[0]);
                }
            } catch (Exception e) {
                out.println("ERR " + e.toString().replace('\n', ' '));
            }
        }
        if (latch != null) {
            latch.close();
        }
        client.close();
        System.exit(0);
    }
}
