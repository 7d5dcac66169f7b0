import hex.genmodel.GenModel;
import hex.genmodel.MojoModel;

import java.io.DataOutputStream;
import java.io.BufferedOutputStream;
import java.io.FileOutputStream;
import java.nio.ByteBuffer;
import java.nio.ByteOrder;
import java.nio.DoubleBuffer;
import java.nio.file.Files;
import java.nio.file.Paths;

/**
 * The raw compute limit of `make bench`: a plain Java loop of MojoModel.score0 over rows already encoded
 * as doubles (read from a little-endian file), split over N threads. Prints rows per second (best of the
 * repeats) and writes the positive-class probabilities for the cross-check.
 *
 * Usage: java -cp h2o-genmodel.jar:. MojoLoop MOJO ROWS.f64 NCOLS THREADS REPEATS COLUMN OUT.f64
 */
public final class MojoLoop {
    public static void main(String[] args) throws Exception {
        final GenModel model = MojoModel.load(args[0]);
        final int ncols = Integer.parseInt(args[2]);
        final int threads = Integer.parseInt(args[3]);
        final int repeats = Integer.parseInt(args[4]);
        final int column = Integer.parseInt(args[5]);
        DoubleBuffer buffer = ByteBuffer.wrap(Files.readAllBytes(Paths.get(args[1])))
                .order(ByteOrder.LITTLE_ENDIAN).asDoubleBuffer();
        final int nrows = buffer.remaining() / ncols;
        final double[][] rows = new double[nrows][ncols];
        for (int r = 0; r < nrows; r++) {
            buffer.get(rows[r]);
        }
        final double[] out = new double[nrows];
        long best = Long.MAX_VALUE;
        for (int k = 0; k < repeats; k++) {
            long start = System.nanoTime();
            Thread[] pool = new Thread[threads];
            final int chunk = (nrows + threads - 1) / threads;
            for (int w = 0; w < threads; w++) {
                final int from = w * chunk;
                final int to = Math.min(nrows, from + chunk);
                pool[w] = new Thread(() -> {
                    double[] preds = new double[model.getPredsSize()];
                    for (int r = from; r < to; r++) {
                        model.score0(rows[r], preds);
                        out[r] = preds[column];
                    }
                });
                pool[w].start();
            }
            for (Thread t : pool) {
                t.join();
            }
            best = Math.min(best, System.nanoTime() - start);
        }
        try (DataOutputStream file = new DataOutputStream(new BufferedOutputStream(new FileOutputStream(args[6])))) {
            for (double p : out) {
                file.writeDouble(p);  // big-endian
            }
        }
        System.out.println(nrows / (best / 1e9));
    }
}
