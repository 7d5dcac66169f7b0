package automlkit;

import hex.genmodel.GenModel;

/**
 * Scores a block of rows with a MOJO in Java, on several threads, so that one call from Python
 * replaces a Python loop of per-row calls. MOJO models are thread-safe for scoring.
 */
public final class BatchScorer {
    private BatchScorer() {}

    /**
     * @param model   a loaded MOJO
     * @param flat    rows in row-major order, {@code ncols} values per row (categories as domain indices, NaN = missing)
     * @param ncols   values per row (the model's feature count)
     * @param column  which entry of the model's prediction array to return (1 + class index for binomial)
     * @param threads worker threads (1 = the calling thread only)
     * @return one value per row
     */
    public static double[] score(final GenModel model, final double[] flat, final int ncols, final int column,
                                 final int threads) throws InterruptedException {
        return scoreColumns(model, flat, ncols, column, column + 1, threads);
    }

    /**
     * Entries {@code from} (inclusive) to {@code to} (exclusive) of the model's prediction array for each row:
     * the class probabilities of a multinomial model (1 to 1 + classes), the prediction of a regression (0 to 1).
     *
     * @return {@code to - from} values per row, in row-major order
     */
    public static double[] scoreColumns(final GenModel model, final double[] flat, final int ncols, final int from,
                                        final int to, final int threads) throws InterruptedException {
        final int nrows = ncols == 0 ? 0 : flat.length / ncols;
        final double[] out = new double[nrows * (to - from)];
        final int workers = Math.max(1, Math.min(threads, nrows / 512));
        if (workers == 1) {
            scoreRange(model, flat, ncols, from, to, 0, nrows, out);
            return out;
        }
        final Thread[] pool = new Thread[workers];
        final Throwable[] failure = new Throwable[1];
        final int chunk = (nrows + workers - 1) / workers;
        for (int w = 0; w < workers; w++) {
            final int first = w * chunk;
            final int last = Math.min(nrows, first + chunk);
            pool[w] = new Thread(() -> {
                try {
                    scoreRange(model, flat, ncols, from, to, first, last, out);
                } catch (Throwable t) {
                    synchronized (failure) { failure[0] = t; }
                }
            }, "automlkit-scorer-" + w);
            pool[w].start();
        }
        for (Thread t : pool) {
            t.join();
        }
        if (failure[0] != null) {
            throw new RuntimeException("MOJO scoring failed", failure[0]);
        }
        return out;
    }

    private static void scoreRange(GenModel model, double[] flat, int ncols, int from, int to, int first, int last,
                                   double[] out) {
        final double[] row = new double[ncols];
        final double[] preds = new double[model.getPredsSize()];
        final int width = to - from;
        for (int r = first; r < last; r++) {
            System.arraycopy(flat, r * ncols, row, 0, ncols);
            model.score0(row, preds);
            System.arraycopy(preds, from, out, r * width, width);
        }
    }
}
