import java.util.HashMap;
import java.util.Map;

/** Keeps about 400 MB of live objects (HashMap of small objects with strings and byte arrays),
 *  prints "ready", and waits until stdin closes. */
public class BenchHeap {
    static final class Item {
        final long id;
        final byte[] payload;
        Item(long id) { this.id = id; this.payload = new byte[96]; }
    }

    public static void main(String[] args) throws Exception {
        int entries = args.length > 0 ? Integer.parseInt(args[0]) : 1_700_000;
        Map<String, Item> map = new HashMap<>(entries * 2);
        for (int i = 0; i < entries; i++) map.put("item-" + i, new Item(i));
        System.out.println("ready " + map.size());
        System.out.flush();
        while (System.in.read() != -1) { }
        System.out.println(map.size());
    }
}
