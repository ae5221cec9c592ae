import java.util.ArrayList;

/** Retains `STEP` objects of 64 KiB (every page touched) every `MS` milliseconds until killed. */
public class Grow {
    static final class TriageRetained {
        final byte[] payload;
        TriageRetained(int n) { payload = new byte[n]; for (int i = 0; i < n; i += 4096) payload[i] = (byte) (i + 1); }
    }
    public static void main(String[] a) throws Exception {
        int step = Integer.parseInt(a[0]);
        int ms = Integer.parseInt(a[1]);
        ArrayList<TriageRetained> keep = new ArrayList<>();
        System.out.println("ready");
        System.out.flush();
        while (true) {
            for (int i = 0; i < step; i++) keep.add(new TriageRetained(64 * 1024));
            Thread.sleep(ms);
        }
    }
}
