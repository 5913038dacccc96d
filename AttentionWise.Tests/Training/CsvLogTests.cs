using AttentionWise.Tests.Data;
using AttentionWise.Training;

namespace AttentionWise.Tests.Training;

public class CsvLogTests
{
    [Fact]
    public void WritesTheHeaderOnceFlushesEveryRowAndTruncatesForResume()
    {
        using var dir = new TempDir();
        string path = dir.File("steps.csv");
        using (var log = new CsvLog<StepRow>(path))
        {
            log.Write(new StepRow { Epoch = 1, Step = 1, Loss = 2.5f, GradMean = -1e-7f });
            // Flushed while the log is still open.
            Assert.Equal(new[] { "epoch,step,loss,grad_mean", "1,1,2.5,-1E-07" }, File.ReadAllLines(path));
            log.Write(new StepRow { Epoch = 2, Step = 1, Loss = float.NaN, GradMean = 0f });
        }
        using (var log = new CsvLog<StepRow>(path))
            log.Write(new StepRow { Epoch = 3, Step = 1, Loss = 1f, GradMean = 0f });
        var rows = CsvLog<StepRow>.ReadAll(path);
        Assert.Equal(new[] { 1, 2, 3 }, rows.Select(r => r.Epoch));
        Assert.True(float.IsNaN(rows[1].Loss));

        CsvLog<StepRow>.TruncateAfterEpoch(path, 1);
        Assert.Equal(new[] { "epoch,step,loss,grad_mean", "1,1,2.5,-1E-07" }, File.ReadAllLines(path));
    }

    [Fact]
    public void EpochRowsHaveThePapersColumnsFirst()
    {
        using var dir = new TempDir();
        string path = dir.File("epochs.csv");
        using (var log = new CsvLog<EpochRow>(path))
            log.Write(new EpochRow { Epoch = 1, LossSum = 34.5, Device = "CPU (2 threads, x)" });
        var header = File.ReadAllLines(path)[0];
        Assert.StartsWith("epoch,loss_sum,loss_mean,test_accuracy,last_grad_mean,epoch_seconds,images_per_second,device", header);
        Assert.Equal("CPU (2 threads, x)", CsvLog<EpochRow>.ReadAll(path).Single().Device);
    }
}
