import java.util.*;

/** Builds a heap of about 8 million objects (~400 MB dump) shaped like a service's: maps of
 *  records with strings, byte buffers, lists and boxed numbers; then waits to be dumped. */
public class BigHeap {
    static final List<Object> ROOTS = new ArrayList<>();

    static final class Order {
        final long id; final String customer; final byte[] payload; final List<Integer> items; Order next;
        Order(long id, String customer, byte[] payload, List<Integer> items) {
            this.id = id; this.customer = customer; this.payload = payload; this.items = items;
        }
    }

    public static void main(String[] args) throws Exception {
        int orders = args.length > 0 ? Integer.parseInt(args[0]) : 1_000_000;
        Map<Long, Order> byId = new HashMap<>();
        Order previous = null;
        for (int i = 0; i < orders; i++) {
            List<Integer> items = new ArrayList<>(3);
            items.add(i); items.add(i * 7); items.add(1000 + i % 100);
            Order o = new Order(i, "customer-" + (i % 50_000), new byte[16 + i % 48], items);
            o.next = previous;
            previous = (i % 1000 == 0) ? null : o;
            byId.put((long) i, o);
        }
        ROOTS.add(byId);
        System.out.println("ready");
        Thread.sleep(3_600_000);
    }
}
