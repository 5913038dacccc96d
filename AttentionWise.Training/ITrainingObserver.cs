using AttentionWise.Training.Data;

namespace AttentionWise.Training;

/// <summary>
/// Receives progress as training goes (the command line draws it; a library user logs it or ignores it). Every
/// method does nothing unless implemented. <see cref="TrainingLoop"/> calls <see cref="Step"/>,
/// <see cref="Evaluating"/> and <see cref="EpochCompleted"/>; <see cref="Trainer.Run"/> adds <see cref="DataLoaded"/>
/// and <see cref="Started"/> before the first step.
/// </summary>
public interface ITrainingObserver
{
    /// <summary>A run of <see cref="Trainer.Run"/> starts: its folder, model, data and device, after the data is loaded.</summary>
    void Started(RunStart start)
    {
    }

    /// <summary>An image folder was decoded (<see cref="Trainer.Run"/>): how many images, how long.</summary>
    void DataLoaded(ImageLoadReport report)
    {
    }

    /// <summary>Step <paramref name="step"/> of <paramref name="stepsPerEpoch"/> in <paramref name="epoch"/> is done
    /// (the optimiser has stepped): its mean loss and the epoch's training throughput so far.</summary>
    void Step(int epoch, int step, int stepsPerEpoch, float loss, double imagesPerSecond)
    {
    }

    /// <summary>The test set of <paramref name="epoch"/> is being measured.</summary>
    void Evaluating(int epoch)
    {
    }

    /// <summary>An epoch is done: its losses, accuracies, timings and the device's peak memory.</summary>
    void EpochCompleted(EpochRow row)
    {
    }
}
